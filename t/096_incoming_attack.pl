# t/096_incoming_attack.pl: fresh-eyes attacks on 661e7f5: the publish
# trigger writes into webflow.outbox_incoming (a child of webflow.outbox
# without indexes, INHERITS); each pass truncates it when it is >= 1 MB and
# empty (incoming.c webflow_shrink_incoming), then moves up to 10,000 rows
# per connection into the outbox (webflow_take_incoming), skipping rows
# another transaction holds and the newer rows of their keys; the worker's
# other statements read ONLY webflow.outbox.
#
# Each attempt is one check that a guarantee HOLDS; a failing check is a
# BREAK.  Verdicts come from what a visitor sees (fake_pages: every page of
# the live items through the public API) and from both tables of the queue.
# The worker is off: every pass is a drain().
#
# Attempts (verdict on 661e7f5; the diag of each gives the numbers; the
# five that broke were fixed in the next commit: every SQL enqueue,
# _truncate_trigger's and _sync's, goes into outbox_incoming too; the claim
# leaves a row whose key has an older change in outbox_incoming; passes run
# READ COMMITTED and the shrink looks for rows with a snapshot taken after
# its lock):
#   1   baseline: the trigger's rows land in outbox_incoming, are published
#       (holds)
#   2   TRUNCATE of a bound table while a never-published upsert is held
#       in outbox_incoming (a superuser's SELECT ... FOR UPDATE):
#       _truncate_trigger writes its deletes into the PARENT (INSERT INTO
#       webflow.outbox), the claim sends the delete, the held upsert is
#       taken later: the truncated row comes back on the site (BREAK)
#   2b  the same with an UPDATE of a live row held: the item is deleted,
#       then created again with the updated state (BREAK)
#   2c  no lock: the row inserted and the table TRUNCATEd between the
#       take's snapshot and the claim's (same step, later statement); a
#       statement trigger on webflow.outbox sleeps once inside the take to
#       make the window deterministic (BREAK)
#   2d  the same race with nothing but the table owner's session: a
#       procedure polls pg_locks until the take began, then INSERT +
#       TRUNCATE in one transaction; the take is slow because of another
#       connection's 30,000 rows (BREAK, first try in 3 of 3 runs)
#   3   an older row of a key held in outbox_incoming, newer changes of it
#       and of others: others flow, the latest state wins (holds)
#   4   a prepared transaction's rows in outbox_incoming while the child is
#       >= 1 MB and otherwise empty: not truncated (holds)
#   5   READ COMMITTED: a writer commits while the shrink step waits for
#       the child's lock (pg_relation_size): not truncated (holds)
#   5b  the same with default_transaction_isolation = 'repeatable read' in
#       postgresql.conf: the shrink's EXISTS reads the step's transaction
#       snapshot (taken at step begin, before the lock), sees no row, and
#       TRUNCATE ONLY removes the committed row: lost (BREAK)
#   6   savepoints rolled back / aborted bulk load (>= 1 MB dead) around
#       committed rows: nothing lost, the child shrinks (holds)
#   7   key changes (delete + create) across the 10,000-row take boundary
#       (holds)
#   8   a binding moved to another connection and back while 15,000 of its
#       rows wait, a key change among them (holds)
#   9   unbind() + bind() again while a pass takes 10,000 rows (holds)
#   10  the drain worker SIGKILLed during a take of 30,000 rows (holds)
#   11  a column and an index on the child only, a publication FOR ALL
#       TABLES, VACUUM FULL / CLUSTER of the child and ADD COLUMN on the
#       parent mid-pass (holds)
#   12  ALTER EXTENSION UPDATE 1.0 -> 1.1 with pending rows, the same
#       session writing before and after (holds)
#   13  pg_dump / pg_restore with rows pending in the child (holds)
#   14  a non-superuser: read/write/truncate/lock/alter/index/trigger on
#       the child, INHERITS from either table, shadow tables named like
#       them on her search_path, her transaction left open holding the
#       child's lock (holds)
#   15  the background worker and three drain() loops while writers
#       update, delete + re-create and change keys (holds)
#   P1  a pass of 100 rows with 100k rows of another (failing) connection
#       in outbox_incoming (holds: ~3x, < 1 s)
#   P2  the same after 100k rows flowed while a REPEATABLE READ reader of
#       the queue is open (no truncate, no vacuum) (holds)
#   P3  50 slug conflicts while a bulk load of 100k rows is open (adopt.c's
#       EXISTS on webflow.outbox now reaches the index-less child) (holds:
#       ~2x, < 1 s)
# The end prints "incoming-attack: N attempts, M breaks".
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use FindBin;
use lib $FindBin::RealBin;
use WebflowTest;

sub attempt { return attack_attempt(@_); }

start_fake();
my %fenv = fake_env();
my $node = new_node('incoming', 'webflow.worker_enabled' => 'off',
	'webflow.max_attempts' => 100, max_prepared_transactions => 5);
sub sql { return $node->safe_psql('postgres', $_[0]); }
sub try { return psql_try($node, $_[0]); }

# queued(): "parent/child" row counts of the queue
sub queued
{
	return sql(q{SELECT (SELECT count(*) FROM ONLY webflow.outbox) || '/' || (SELECT count(*) FROM ONLY webflow.outbox_incoming)});
}

# drain_all(TRIES): drain() until no pending or sending row is left in
# either table (at most TRIES passes); returns whether none is left
sub drain_all
{
	my ($tries, $db) = @_;
	$db //= 'postgres';
	my $q = q{SELECT count(*) FROM webflow.outbox WHERE state <> 'failed'};
	for (1 .. ($tries // 60))
	{
		return 1 if $node->safe_psql($db, $q) eq '0';
		my $n = $node->safe_psql($db, 'SELECT webflow.drain()');
		sleep(0.3) if $n eq '0';
	}
	return $node->safe_psql($db, $q) eq '0';
}

# live_names(COLLECTION): the names of the live items, as a visitor lists them
sub live_names
{
	return [ map { $_->{fieldData}{name} // '' } @{ fake_pages($_[0], live => 1) } ];
}

# site_matches(TABLE, COLLECTION, DB): as many live items as rows, each
# row's current name live exactly once; returns (ok, description)
sub site_matches
{
	my ($table, $coll, $db) = @_;
	$db //= 'postgres';
	my @live = @{ live_names($coll) };
	my @want = split /\|/, $node->safe_psql($db, qq{SELECT coalesce(string_agg(name, '|'), '') FROM $table});
	my %seen;
	$seen{$_}++ for @live;
	my @bad = grep { ($seen{$_} // 0) != 1 } @want;
	my %want = map { $_ => 1 } @want;
	my @extra = grep { !$want{$_} } @live;
	my $ok = !@bad && !@extra && scalar(@live) == scalar(@want);
	my $d = scalar(@live) . ' live for ' . scalar(@want) . ' rows'
	  . (@bad ? '; not live once: ' . join('|', @bad[0 .. ($#bad < 4 ? $#bad : 4)]) : '')
	  . (@extra ? '; live without a row: ' . join('|', @extra[0 .. ($#extra < 4 ? $#extra : 4)]) : '');
	return ($ok, $d);
}

# a drain() in the background: returns the harness
sub drain_bg
{
	my ($max, $db) = @_;
	my ($out, $err) = ('', '');
	return IPC::Run::start(
		[ 'psql', '-X', '-qAt', '-d', $node->connstr($db // 'postgres'), '-c',
		  'SELECT webflow.drain(' . ($max // '') . ')' ],
		'>', \$out, '2>', \$err);
}

my $ncoll = 0;
sub new_collection
{
	my ($name) = @_;
	$ncoll++;
	my ($st, $c) = fake_api('POST', "/sites/$SITE/collections", {
			displayName => "$name $ncoll", singularName => "$name $ncoll", slug => "incoming-$ncoll",
			fields => [ { type => 'PlainText', displayName => 'Description', slug => 'description' } ] },
		actor => 'designer');
	die "could not create a collection: $st\n" unless $st == 200 && $c->{id};
	return $c->{id};
}

# new_table(NAME): a table (id int PRIMARY KEY, name text) bound to a new
# collection; returns the collection
sub new_table
{
	my ($t, $db) = @_;
	my $c = new_collection($t);
	$node->safe_psql($db // 'postgres', qq{CREATE TABLE $t (id int PRIMARY KEY, name text NOT NULL);
	  SELECT webflow.bind('$t', '$c');});
	return $c;
}

# ---- 1. baseline
sql(qq{CREATE TABLE jobs (id int PRIMARY KEY, name text NOT NULL);
  SELECT webflow.bind('jobs', '$JOBS');
  INSERT INTO jobs SELECT i, 'job ' || i FROM generate_series(1, 10) i;});
my $q1 = queued();
drain_all();
my ($ok1, $d1) = site_matches('jobs', $JOBS);
attempt($ok1 && $q1 eq '0/10' && queued() eq '0/0',
	"1: baseline: 10 inserted rows queued in parent/child $q1, published: $d1; left " . queued());

# a second named connection (its bindings: their own take and claim share)
sql(qq{CREATE SERVER second FOREIGN DATA WRAPPER webflow OPTIONS (api_url '$fenv{WEBFLOW_FAKE_URL}');
  CREATE USER MAPPING FOR CURRENT_USER SERVER second OPTIONS (token 'test-token');});

# ---- 2. TRUNCATE while an upsert is held in outbox_incoming (a superuser's
# session: SELECT ... FOR UPDATE, as t/089 #5 does on the outbox)
for my $v ([ '2', 'INSERT' ], [ '2b', 'UPDATE' ])
{
	my ($label, $kind) = @$v;
	my $TT = new_table("trunc$label");
	sql(qq{INSERT INTO trunc$label VALUES (1, 't$label one'), (2, 't$label two')});
	drain_all();
	my $dml = $kind eq 'INSERT'
	  ? qq{INSERT INTO trunc$label VALUES (3, 't$label three')}
	  : qq{UPDATE trunc$label SET name = 't$label two v2' WHERE id = 2};
	my $key = $kind eq 'INSERT' ? 3 : 2;
	sql($dml);
	my $lk = $node->background_psql('postgres');
	$lk->query_safe(qq{BEGIN; SELECT id FROM webflow.outbox_incoming WHERE row_key = '$key' FOR UPDATE});
	sql(qq{TRUNCATE trunc$label});
	my $qa = sql(q{SELECT string_agg(format('%s %s %s %s', CASE WHEN tableoid = 'webflow.outbox'::regclass THEN 'parent' ELSE 'child' END, id, op, row_key), '; ' ORDER BY id) FROM webflow.outbox});
	sql('SELECT webflow.drain()');
	my $mid = scalar @{ live_names($TT) };
	$lk->query_safe('COMMIT');
	$lk->quit;
	drain_all();
	my @live = @{ live_names($TT) };
	attempt(@live == 0 && queued() eq '0/0',
		"$label: TRUNCATE of a bound table while the upsert of an $kind of row $key is held in outbox_incoming by a superuser's session "
		  . "(queue: $qa): live items after the pass: $mid; after the lock went and the queue drained: "
		  . scalar(@live) . ' (' . join('|', @live) . '), expected 0 (the table is empty)');
}

# ---- 3. a superuser holds an older row of a key in outbox_incoming while
# newer changes of that key and of another key commit
sql(q{UPDATE jobs SET name = 'j5 one' WHERE id = 5});
{
	my $lk = $node->background_psql('postgres');
	$lk->query_safe(q{BEGIN; SELECT id FROM webflow.outbox_incoming WHERE row_key = '5' FOR UPDATE});
	sql(q{UPDATE jobs SET name = 'j5 two' WHERE id = 5; UPDATE jobs SET name = 'j6 flows' WHERE id = 6;});
	sql('SELECT webflow.drain()');
	my $flowed = grep { $_ eq 'j6 flows' } @{ live_names($JOBS) };
	my $old5 = grep { $_ eq 'j5 two' } @{ live_names($JOBS) };
	sql(q{DELETE FROM jobs WHERE id = 5; INSERT INTO jobs VALUES (5, 'j5 three')});
	sql('SELECT webflow.drain()');
	my $q3 = queued();
	$lk->query_safe('COMMIT');
	$lk->quit;
	drain_all();
	my ($ok3, $d3) = site_matches('jobs', $JOBS);
	attempt($flowed && !$old5 && $ok3 && queued() eq '0/0',
		"3: an older row of key 5 held in outbox_incoming: the other key flowed ($flowed), key 5's newer state not sent while held ($old5), queue while held $q3; at the end: $d3");
}

# the child made >= 1 MB and empty: an aborted bulk load
sub bloat_child
{
	sql(q{BEGIN; INSERT INTO jobs SELECT i, 'bloat ' || i || repeat('x', 100) FROM generate_series(1000, 12000) i; ROLLBACK;});
	return sql(q{SELECT pg_relation_size('webflow.outbox_incoming')});
}

# ---- 4. a prepared transaction with rows in outbox_incoming; passes run
# while the child is big and holds no other row
{
	my $size = bloat_child();
	sql(q{BEGIN; INSERT INTO jobs VALUES (40, 'j40 prepared'); UPDATE jobs SET name = 'j7 prepared' WHERE id = 7; PREPARE TRANSACTION 'p4';});
	sql('SELECT webflow.drain()') for 1 .. 3;
	my $size_mid = sql(q{SELECT pg_relation_size('webflow.outbox_incoming')});
	sql(q{COMMIT PREPARED 'p4'});
	drain_all();
	my ($ok4, $d4) = site_matches('jobs', $JOBS);
	attempt($ok4 && queued() eq '0/0',
		"4: a prepared transaction's rows in outbox_incoming ($size bytes, else empty) through 3 passes (size then $size_mid), committed: $d4; left " . queued());
}

# ---- 5. a writer's row commits while the pass waits for the child's lock
# (a superuser's session holds it: LOCK TABLE, as VACUUM FULL / CLUSTER /
# ALTER TABLE do), i.e. after the step's snapshot and before the
# ConditionalLock; under READ COMMITTED (5) and with
# default_transaction_isolation = 'repeatable read' in postgresql.conf (5b)
for my $v ([ '5', 'read committed', 51 ], [ '5b', 'repeatable read', 52 ])
{
	my ($label, $iso, $id) = @$v;
	drain_all();
	my $size = bloat_child();
	sql(qq{ALTER SYSTEM SET default_transaction_isolation = '$iso'; SELECT pg_reload_conf();});
	sleep(0.3);
	my $s = $node->background_psql('postgres');
	$s->query_safe(q{BEGIN ISOLATION LEVEL READ COMMITTED; LOCK TABLE webflow.outbox_incoming IN ACCESS EXCLUSIVE MODE});
	$s->query_safe(qq{INSERT INTO jobs VALUES ($id, 'j$id committed while the pass waits')});
	my $h = drain_bg();
	my $waiting = wait_until(sub { sql(q{SELECT count(*) FROM pg_locks WHERE relation = 'webflow.outbox_incoming'::regclass AND NOT granted}) ne '0' }, 10, 0.05);
	$s->query_safe('COMMIT');
	$s->quit;
	$h->finish;
	my $after = queued();
	my $size_after = sql(q{SELECT pg_relation_size('webflow.outbox_incoming')});
	sql(q{ALTER SYSTEM RESET default_transaction_isolation; SELECT pg_reload_conf();});
	sleep(0.3);
	drain_all();
	my $live = grep { $_ eq "j$id committed while the pass waits" } @{ live_names($JOBS) };
	my ($ok5, $d5) = site_matches('jobs', $JOBS);
	attempt($live && $ok5,
		"$label: ($iso) row $id committed while the pass waited ($waiting) for outbox_incoming's lock ($size bytes, else empty): after that pass parent/child $after, child $size_after bytes; row $id live: $live; $d5");
}


# ---- 2c. the same resurrection without any row lock: the pass's take runs
# with one snapshot, its claim (a later statement of the same step) with a
# newer one.  A row inserted and its table TRUNCATEd, both committed
# between the take's snapshot and the claim's: the take left the upsert in
# outbox_incoming, the claim sends the delete _truncate_trigger wrote into
# the parent, the next pass creates the item.  (The window is the take's
# run time, ~0.1 s for 10,000 rows; a superuser's statement trigger on
# webflow.outbox sleeps in the take, once, to make it deterministic: the
# take's INSERT fires it after the take's snapshot was taken.)
{
	my $TT = new_table('trunc2c');
	sql(q{CREATE TABLE public.sleep_once (x int); INSERT INTO public.sleep_once VALUES (1);
	  CREATE FUNCTION public.sleep_in_take() RETURNS trigger LANGUAGE plpgsql AS $f$
	  DECLARE n int := 0;
	  BEGIN
	    IF EXISTS (SELECT FROM pg_catalog.pg_stat_activity WHERE pid = pg_catalog.pg_backend_pid() AND backend_type = 'webflow drain') THEN
	      DELETE FROM public.sleep_once;
	      GET DIAGNOSTICS n = ROW_COUNT;
	    END IF;
	    IF n > 0 THEN
	      PERFORM pg_catalog.pg_sleep(2);
	    END IF;
	    RETURN NULL;
	  END $f$;
	  CREATE TRIGGER zz_sleep AFTER INSERT ON webflow.outbox FOR EACH STATEMENT EXECUTE FUNCTION public.sleep_in_take();});
	sql(q{INSERT INTO trunc2c VALUES (1, 't2c one')});
	my $h = drain_bg();
	my $in = wait_until(sub { sql(q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'webflow drain' AND wait_event = 'PgSleep'}) ne '0' }, 10, 0.02);
	# (a table owner's two statements, while the take sleeps)
	sql(q{INSERT INTO trunc2c VALUES (2, 't2c two')});
	sql(q{TRUNCATE trunc2c});
	$h->finish;
	my $mid = join('|', @{ live_names($TT) });
	sql(q{DROP TRIGGER zz_sleep ON webflow.outbox});
	drain_all();
	my @live = @{ live_names($TT) };
	attempt($in && @live == 0 && queued() eq '0/0',
		"2c: a row inserted and its table TRUNCATEd between the take's snapshot and the claim's (in the take: $in), no lock held: live after that pass: '$mid'; after the queue drained: "
		  . scalar(@live) . ' (' . join('|', @live) . '), expected 0 (the table is empty)');
}

# ---- 2d. the same race with nothing but a table owner's own session: a
# backlog of 30,000 rows (10 keys, coalescing) of ANOTHER connection makes
# the take take its time (it reads and sorts every row of the child) while
# the claim of the table's connection finds the delete at once; a procedure of the table owner polls pg_locks (open to every role)
# until the drain process holds outbox_incoming's RowExclusiveLock (the
# take has begun), then inserts a row and TRUNCATEs its table in one
# transaction.  Up to 6 tries; a BREAK when any try resurrects the row.
{
	my $TD = new_table('trunc2d');
	my $FD = new_collection('fill2d');
	sql(qq{CREATE TABLE fill2d (id int PRIMARY KEY, name text NOT NULL);
	  SELECT webflow.bind('fill2d', '$FD', '{"connection": "second"}');});
	sql(q{INSERT INTO fill2d SELECT i, 'fill ' || i FROM generate_series(1, 10) i;
	  CREATE PROCEDURE public.race2d(k int) LANGUAGE plpgsql AS $p$
	  DECLARE i int := 0;
	  BEGIN
	    LOOP
	      EXIT WHEN EXISTS (SELECT FROM pg_locks l JOIN pg_stat_activity a USING (pid)
	                        WHERE a.backend_type = 'webflow drain' AND l.relation = 'webflow.outbox_incoming'::regclass
	                          AND l.mode = 'RowExclusiveLock');
	      i := i + 1;
	      IF i > 20000 THEN RAISE EXCEPTION 'no take seen'; END IF;
	      PERFORM pg_sleep(0.0005);
	    END LOOP;
	    INSERT INTO trunc2d VALUES (k, 't2d row ' || k);
	    TRUNCATE trunc2d;
	  END $p$;});
	drain_all();
	my ($tries, $hits, $fired) = (0, 0, 0);
	my @seen;
	for my $try (1 .. 6)
	{
		$tries++;
		backlog('fill2d', 10, 30000);
		my ($o, $e) = ('', '');
		my $r = IPC::Run::start([ 'psql', '-X', '-qAt', '-d', $node->connstr('postgres'), '-c', "CALL public.race2d($try)" ],
			'>', \$o, '2>', \$e);
		sleep(0.2);
		my $h = drain_bg();
		$h->finish;
		$r->finish;
		$fired++ unless $e =~ /ERROR/;
		drain_all();
		my @live = @{ live_names($TD) };
		push @seen, scalar(@live);
		if (@live)
		{
			$hits++;
			last;
		}
	}
	attempt($hits == 0,
		"2d: a table owner's INSERT + TRUNCATE in one transaction committed as soon as a pass's take began (no lock, no trigger; fired in $fired of $tries tries): items of the truncated table live after each try: "
		  . join(',', @seen) . ", expected 0 each");
}

# ---- 6. savepoints rolled back and an aborted bulk load leave dead tuples
# (>= 1 MB) in outbox_incoming around committed rows
{
	my $SP = new_table('sp');
	sql(q{BEGIN;
	  INSERT INTO sp VALUES (1, 'sp one');
	  SAVEPOINT a; INSERT INTO sp SELECT i, 'sp dead ' || i || repeat('y', 100) FROM generate_series(100, 8000) i; ROLLBACK TO a;
	  INSERT INTO sp VALUES (2, 'sp two');
	  SAVEPOINT b; UPDATE sp SET name = 'sp one dead' WHERE id = 1; ROLLBACK TO b;
	  COMMIT;
	  BEGIN; INSERT INTO sp SELECT i, 'sp aborted ' || i || repeat('z', 100) FROM generate_series(100, 8000) i; ROLLBACK;
	  INSERT INTO sp VALUES (3, 'sp three');});
	my $q6 = queued();
	my $size6 = sql(q{SELECT pg_relation_size('webflow.outbox_incoming')});
	drain_all();
	sql('SELECT webflow.drain()');
	my $size6b = sql(q{SELECT pg_relation_size('webflow.outbox_incoming')});
	my ($ok6, $d6) = site_matches('sp', $SP);
	attempt($ok6 && $q6 eq '0/3' && queued() eq '0/0' && $size6b < 1024 * 1024,
		"6: savepoints rolled back and an aborted bulk load around 3 committed rows (queued $q6, child $size6 bytes): $d6; child then $size6b bytes; left " . queued());
}

# backlog(TABLE, ROWS, N): N rows of changes of TABLE's ROWS rows (rows
# 1..ROWS exist), ROWS per statement, every key's rows coalesce in a claim
sub backlog
{
	my ($t, $rows, $n) = @_;
	my $loops = int($n / $rows);
	sql(qq{DO \$\$ BEGIN FOR i IN 1..$loops LOOP UPDATE $t SET name = '$t ' || id || ' g' || i; END LOOP; END \$\$});
}

# ---- 7. key changes (delete + create) across the 10,000-row take boundary
{
	drain_all();
	my $KC = new_table('kc');
	sql(q{INSERT INTO kc SELECT i, 'kc ' || i FROM generate_series(1, 10) i});
	drain_all();
	backlog('kc', 10, 9990);
	sql(q{UPDATE kc SET name = name || '.' WHERE id BETWEEN 1 AND 8});    # 9998 rows
	sql(q{UPDATE kc SET id = 103, name = 'kc 103 moved' WHERE id = 3});  # 9999 delete 3, 10000 upsert 103
	sql(q{UPDATE kc SET id = 3, name = 'kc 3 back' WHERE id = 103});    # 10001 delete 103, 10002 upsert 3
	sql(q{UPDATE kc SET id = 104, name = 'kc 104 moved' WHERE id = 4});  # 10003, 10004
	my $q7 = queued();
	sql('SELECT webflow.drain(10)');
	my $q7b = queued();
	my $child7 = sql(q{SELECT string_agg(op || ' ' || row_key, ', ' ORDER BY id) FROM ONLY webflow.outbox_incoming});
	drain_all();
	my ($ok7, $d7) = site_matches('kc', $KC);
	attempt($ok7 && queued() eq '0/0',
		"7: key changes 3->103->3 and 4->104 at rows 9,999..10,004 of a backlog (queued $q7; after one pass $q7b, left in the child: $child7): $d7");
}

# ---- 8. a binding moved to a second connection while 15,000 of its rows
# wait in outbox_incoming (key changes among them), a second connection's
# table flowing too
{
	my $K8 = new_table('mv');
	my $O8 = new_collection('other');
	sql(qq{CREATE TABLE other (id int PRIMARY KEY, name text NOT NULL);
	  SELECT webflow.bind('other', '$O8', '{"connection": "second"}');
	  INSERT INTO mv SELECT i, 'mv ' || i FROM generate_series(1, 15) i;
	  INSERT INTO other SELECT i, 'other ' || i FROM generate_series(1, 15) i;});
	drain_all();
	backlog('mv', 15, 7500);
	sql(q{UPDATE mv SET id = 115, name = 'mv 115 moved' WHERE id = 15; UPDATE other SET name = 'other 1 x' WHERE id = 1;});
	backlog('other', 15, 3000);
	backlog('mv', 15, 7500);
	sql(q{UPDATE mv SET id = 15, name = 'mv 15 back' WHERE id = 115});
	sql('SELECT webflow.drain(10)');
	sql(qq{SELECT webflow.bind('mv', '$K8', '{"connection": "second"}')});
	sql('SELECT webflow.drain(10)');
	sql(qq{SELECT webflow.bind('mv', '$K8')});
	drain_all();
	my ($ok8, $d8) = site_matches('mv', $K8);
	my ($ok8b, $d8b) = site_matches('other', $O8);
	attempt($ok8 && $ok8b && queued() eq '0/0',
		"8: a binding moved between connections twice while its 15,000 rows (key change 15->115->15) wait in outbox_incoming: mv $d8; other $d8b; left " . queued());
}

# ---- 9. unbind() and bind() again while a pass takes 10,000 rows
{
	my $UB = new_table('ub');
	sql(q{INSERT INTO ub SELECT i, 'ub ' || i FROM generate_series(1, 20) i});
	drain_all();
	backlog('ub', 20, 20000);
	my $h = drain_bg(5);
	wait_until(sub { sql(q{SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.backend_type = 'webflow drain' AND l.relation = 'webflow.outbox_incoming'::regclass AND l.mode = 'RowExclusiveLock'}) ne '0' }, 10, 0.01);
	my $q9 = queued();
	sql(qq{SELECT webflow.unbind('ub'); SELECT webflow.bind('ub', '$UB');});
	my $q9b = queued();
	$h->finish;
	sql(q{UPDATE ub SET name = name || ' after' WHERE id <= 5});
	drain_all();
	sql('SELECT webflow.sync(\'ub\')');
	drain_all();
	my $orph = sql(q{SELECT count(*) FROM webflow.outbox o WHERE NOT EXISTS (SELECT FROM webflow.bindings b WHERE b.id = o.binding_id)});
	my ($ok9, $d9) = site_matches('ub', $UB);
	attempt($ok9 && queued() eq '0/0' && $orph eq '0',
		"9: unbind() + bind() while a pass took a backlog of 20,000 (queue then $q9, after unbind/bind $q9b); after drains and sync(): $d9; left " . queued() . ", orphans $orph");
}

# ---- 10. the drain worker SIGKILLed during a take of 30,000 rows
{
	my $CR = new_table('cr');
	sql(q{INSERT INTO cr SELECT i, 'cr ' || i FROM generate_series(1, 30) i});
	drain_all();
	backlog('cr', 30, 30000);
	sql(q{UPDATE cr SET id = 130, name = 'cr 130 moved' WHERE id = 30; DELETE FROM cr WHERE id = 29;});
	my $h = drain_bg();
	my $pid = '';
	wait_until(sub { $pid = sql(q{SELECT coalesce(min(a.pid)::text, '') FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.backend_type = 'webflow drain' AND l.relation = 'webflow.outbox_incoming'::regclass AND l.mode = 'RowExclusiveLock'}); $pid ne '' }, 10, 0.005);
	kill 'KILL', $pid if $pid;
	eval { $h->finish };
	wait_until(sub { $node->psql('postgres', 'SELECT 1') == 0 }, 30, 0.2);
	my $q10 = queued();
	drain_all(80);
	my ($ok10, $d10) = site_matches('cr', $CR);
	attempt($pid ne '' && $ok10 && queued() eq '0/0',
		"10: the drain worker (pid $pid) SIGKILLed during a take of 30,000 rows (queue after the restart $q10): $d10; left " . queued());
}

# ---- 11. a column and an index added to outbox_incoming only, a
# publication FOR ALL TABLES, VACUUM FULL and CLUSTER of the child mid-pass
{
	my $AL = new_table('al');
	sql(q{ALTER TABLE webflow.outbox_incoming ADD COLUMN note text;
	  CREATE INDEX incoming_key ON webflow.outbox_incoming (binding_id, row_key, id);
	  CREATE PUBLICATION everything FOR ALL TABLES;
	  INSERT INTO al SELECT i, 'al ' || i FROM generate_series(1, 20) i;});
	my $q11 = queued();
	sql(q{SELECT webflow.drain(5)});
	sql(q{UPDATE al SET name = name || ' v2'; DELETE FROM al WHERE id > 15; UPDATE al SET id = 115 WHERE id = 15;});
	fake_fault({ match => { kind => 'patch_live' }, delay_ms => 1500, count => 1 });
	my $h = drain_bg(10);
	wait_until(sub { sql(q{SELECT count(*) FROM webflow.outbox WHERE state = 'sending'}) ne '0' }, 10, 0.02);
	sql(q{UPDATE al SET name = name || ' v3' WHERE id <= 5});
	sql(q{VACUUM FULL webflow.outbox_incoming});
	sql(q{CLUSTER webflow.outbox_incoming USING incoming_key});
	# (a column added to the parent reaches the child: a writer that wrote
	# before must write the new layout)
	sql(q{ALTER TABLE webflow.outbox ADD COLUMN extra2 text});
	sql(q{UPDATE al SET name = name || ' v4' WHERE id IN (1, 2)});
	$h->finish;
	fake_clear_faults();
	my $check = sql(q{SET enable_seqscan = off; SELECT count(*) FROM ONLY webflow.outbox_incoming WHERE binding_id > 0 AND row_key > ''})
	  . '=' . sql(q{SELECT count(*) FROM ONLY webflow.outbox_incoming});
	drain_all();
	my ($ok11, $d11) = site_matches('al', $AL);
	sql(q{DROP PUBLICATION everything; DROP INDEX webflow.incoming_key; ALTER TABLE webflow.outbox_incoming DROP COLUMN note;
	  ALTER TABLE webflow.outbox DROP COLUMN extra2;});
	attempt($ok11 && queued() eq '0/0',
		"11: a column and an index on outbox_incoming only, a publication FOR ALL TABLES, VACUUM FULL, CLUSTER of the child and ADD COLUMN on the parent mid-pass (queued $q11; index/heap rows $check): $d11; left " . queued());
}

# ---- 12. ALTER EXTENSION UPDATE 1.0 -> 1.1 with rows pending in the
# outbox; a session that wrote under 1.0 writes again after the update
{
	my $UP = new_collection('upgrade');
	sql('CREATE DATABASE up');
	sub usql { return $node->safe_psql('up', $_[0]); }
	usql(qq{CREATE EXTENSION webflow VERSION '1.0';
	  CREATE TABLE jobs (id int PRIMARY KEY, name text NOT NULL);
	  SELECT webflow.bind('jobs', '$UP');
	  INSERT INTO jobs SELECT i, 'up ' || i FROM generate_series(1, 6) i;});
	drain_all(20, 'up');
	my $w = $node->background_psql('up');
	$w->query_safe(q{UPDATE jobs SET name = 'up 1 under 1.0' WHERE id = 1; DELETE FROM jobs WHERE id = 2; INSERT INTO jobs VALUES (7, 'up 7 under 1.0')});
	usql(q{ALTER EXTENSION webflow UPDATE});
	$w->query_safe(q{UPDATE jobs SET name = 'up 1 under 1.1' WHERE id = 1; INSERT INTO jobs VALUES (2, 'up 2 again'); DELETE FROM jobs WHERE id = 7; UPDATE jobs SET id = 103 WHERE id = 3});
	$w->quit;
	my $q12 = $node->safe_psql('up', q{SELECT (SELECT count(*) FROM ONLY webflow.outbox) || '/' || (SELECT count(*) FROM ONLY webflow.outbox_incoming)});
	drain_all(20, 'up');
	my ($ok12, $d12) = site_matches('jobs', $UP, 'up');
	attempt($ok12 && $node->safe_psql('up', 'SELECT count(*) FROM webflow.outbox') eq '0',
		"12: ALTER EXTENSION UPDATE with 3 changes pending under 1.0, 5 more after it from the same session (parent/child $q12): $d12");
}

# ---- 13. pg_dump / pg_restore with changes pending in outbox_incoming
{
	my $DC = new_collection('dump');
	sql('CREATE DATABASE dumpsrc');
	$node->safe_psql('dumpsrc', qq{CREATE EXTENSION webflow;
	  CREATE TABLE jobs (id int PRIMARY KEY, name text NOT NULL);
	  SELECT webflow.bind('jobs', '$DC');
	  INSERT INTO jobs SELECT i, 'dump ' || i FROM generate_series(1, 6) i;});
	drain_all(20, 'dumpsrc');
	$node->safe_psql('dumpsrc', q{UPDATE jobs SET name = 'dump 1 pending' WHERE id = 1; DELETE FROM jobs WHERE id = 2; INSERT INTO jobs VALUES (7, 'dump 7 pending'); UPDATE jobs SET id = 103 WHERE id = 3;});
	my $src = $node->safe_psql('dumpsrc', q{SELECT (SELECT count(*) FROM ONLY webflow.outbox) || '/' || (SELECT count(*) FROM ONLY webflow.outbox_incoming) || ' max ' || (SELECT max(id) FROM webflow.outbox)});
	my $dump = $node->basedir . '/incoming.dump';
	$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('dumpsrc') ], 'pg_dump');
	sql('DROP DATABASE dumpsrc');
	sql('CREATE DATABASE dumpdst');
	$node->command_ok([ 'pg_restore', '-d', $node->connstr('dumpdst'), $dump ], 'pg_restore');
	my $dst = $node->safe_psql('dumpdst', q{SELECT (SELECT count(*) FROM ONLY webflow.outbox) || '/' || (SELECT count(*) FROM ONLY webflow.outbox_incoming) || ' max ' || (SELECT max(id) FROM webflow.outbox)});
	$node->safe_psql('dumpdst', q{UPDATE jobs SET name = 'dump 1 after restore' WHERE id = 1; DELETE FROM jobs WHERE id = 7;});
	my $ord = $node->safe_psql('dumpdst', q{SELECT string_agg(id || ' ' || op || ' ' || row_key, ', ' ORDER BY id) FROM webflow.outbox WHERE row_key IN ('1', '7')});
	drain_all(20, 'dumpdst');
	my ($ok13, $d13) = site_matches('jobs', $DC, 'dumpdst');
	attempt($ok13 && $src eq $dst && $node->safe_psql('dumpdst', 'SELECT count(*) FROM webflow.outbox') eq '0',
		"13: pg_dump/pg_restore with changes pending (source $src, restored $dst; rows of keys 1 and 7 after newer changes: $ord): $d13");
}

# ---- 14. a non-superuser owning a bound table
{
	my $AC = new_collection('alice');
	sql(q{CREATE ROLE alice LOGIN; CREATE SCHEMA alice AUTHORIZATION alice;
	  GRANT EXECUTE ON FUNCTION webflow.bind(regclass, text, jsonb), webflow.unbind(regclass, text),
	    webflow.sync(regclass), webflow.retry(boolean), webflow.drain(integer) TO alice;});
	my $as_alice = sub {
		my ($q) = @_;
		my ($ret, $out, $err) = $node->psql('postgres', $q, extra_params => [ '-U', 'alice' ]);
		$err =~ s/^psql:<stdin>:\d+: //mg;
		return $ret == 0 ? "ok $out" : "error: $err";
	};
	my $bind = $as_alice->(qq{CREATE TABLE alice.posts (id int PRIMARY KEY, name text NOT NULL);
	  SELECT webflow.bind('alice.posts', '$AC'); INSERT INTO alice.posts VALUES (1, 'alice one');});
	my %r;
	$r{select}   = $as_alice->(q{SELECT count(*) FROM webflow.outbox_incoming});
	$r{select_p} = $as_alice->(q{SELECT count(*) FROM webflow.outbox});
	$r{update}   = $as_alice->(q{UPDATE webflow.outbox_incoming SET row_key = 'x'});
	$r{delete}   = $as_alice->(q{DELETE FROM webflow.outbox_incoming});
	$r{truncate} = $as_alice->(q{TRUNCATE webflow.outbox_incoming});
	$r{lock}     = $as_alice->(q{BEGIN; LOCK TABLE webflow.outbox_incoming IN ACCESS SHARE MODE; COMMIT;});
	$r{inherit}  = $as_alice->(q{CREATE TABLE alice.kid () INHERITS (webflow.outbox_incoming)});
	$r{inherit_p} = $as_alice->(q{CREATE TABLE alice.kid2 () INHERITS (webflow.outbox)});
	$r{alter}    = $as_alice->(q{ALTER TABLE webflow.outbox_incoming ADD COLUMN x int});
	$r{index}    = $as_alice->(q{CREATE INDEX ON webflow.outbox_incoming (id)});
	$r{trigger}  = $as_alice->(q{CREATE TRIGGER t BEFORE INSERT ON webflow.outbox_incoming FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger()});
	my @allowed = grep { $r{$_} !~ /^error: .*(permission denied|must be owner)/ } sort keys %r;
	# shadows: a table named outbox_incoming in her schema, first on her search_path
	my $shadow = $as_alice->(q{CREATE TABLE alice.outbox_incoming (LIKE alice.posts);
	  CREATE TABLE alice.outbox (LIKE alice.posts);
	  SET search_path = alice, public, pg_catalog;
	  INSERT INTO alice.posts VALUES (2, 'alice two');
	  SELECT (SELECT count(*) FROM alice.outbox_incoming) + (SELECT count(*) FROM alice.outbox);});
	my $mine = sql(q{SELECT count(*) FROM ONLY webflow.outbox_incoming o JOIN webflow.bindings b ON b.id = o.binding_id WHERE b.source = 'alice.posts'::regclass AND o.row_key = '2'});
	# her transaction left open with a row written (the child's lock held):
	# others' rows flow, hers follow when she commits
	my $open = $node->background_psql('postgres', extra_params => [ '-U', 'alice' ]);
	$open->query_safe(q{BEGIN; INSERT INTO alice.posts VALUES (3, 'alice three')});
	bloat_child();
	sql(q{UPDATE jobs SET name = 'j8 while alice is open' WHERE id = 8});
	sql('SELECT webflow.drain()');
	my $flow14 = grep { $_ eq 'j8 while alice is open' } @{ live_names($JOBS) };
	$open->query_safe('COMMIT');
	$open->quit;
	drain_all();
	my ($ok14, $d14) = site_matches('alice.posts', $AC);
	attempt($bind =~ /^ok/ && !@allowed && $shadow eq 'ok 0' && $mine eq '1' && $flow14 && $ok14,
		"14: alice (not superuser): allowed on the child: " . (@allowed ? join(', ', map { "$_ ($r{$_})" } @allowed) : 'nothing')
		  . "; shadow tables on her search_path got: $shadow, outbox_incoming got $mine; others flowed while her transaction was open: $flow14; hers: $d14");
}

# ---- 15. the background worker and three drain() calls at once while
# writers change, delete and re-create rows (key changes among them)
{
	my $RC = new_table('rc');
	sql(q{INSERT INTO rc SELECT i, 'rc ' || i FROM generate_series(1, 40) i});
	sql(q{ALTER SYSTEM SET webflow.worker_enabled = on; SELECT pg_reload_conf();});
	my @d = map { my ($o, $e) = ('', ''); IPC::Run::start([ 'bash', '-c',
		'for i in $(seq 1 15); do psql -X -qAt -d "$0" -c "SELECT webflow.drain(50)" >/dev/null 2>&1; done', $node->connstr('postgres') ]) } 1 .. 3;
	for my $r (1 .. 15)
	{
		sql(qq{UPDATE rc SET name = 'rc ' || id || ' r$r' WHERE id % 3 = $r % 3;
		  DELETE FROM rc WHERE id = 10 + $r; INSERT INTO rc VALUES (10 + $r, 'rc back $r');
		  UPDATE rc SET id = id + 1000 WHERE id = 20 + $r; UPDATE rc SET id = id - 1000, name = 'rc moved back $r' WHERE id = 1020 + $r;});
		sleep(0.1);
	}
	$_->finish for @d;
	my $done = wait_for($node, q{SELECT count(*) FROM webflow.outbox}, '0', 60);
	sql(q{ALTER SYSTEM RESET webflow.worker_enabled; SELECT pg_reload_conf();});
	my ($ok15, $d15) = site_matches('rc', $RC);
	attempt($done && $ok15,
		"15: the worker and three drain() loops while 15 rounds of updates, delete + re-create and key changes commit: queue drained ($done), $d15");
}

# ===========================================================================
# Performance: one pass (drain(100) of 100 changed rows) with a big
# backlog against the same pass without.  A BREAK: over a second and five
# times slower.
# ===========================================================================
my $FLOW = new_table('flow');
sql(q{INSERT INTO flow SELECT i, 'flow ' || i FROM generate_series(1, 100) i});
drain_all();
my $gen = 0;
sub flow_pass
{
	$gen++;
	sql(qq{UPDATE flow SET name = 'flow ' || id || ' g$gen'});
	my $t0 = time;
	my $n = sql('SELECT webflow.drain(100)');
	return (time - $t0, $n);
}
sub slow { my ($big, $small) = @_; return $big > 1.0 && $big > 5 * $small; }
my ($t_small, $n_small) = flow_pass();
($t_small, $n_small) = flow_pass();
diag(sprintf('a pass of 100 rows, no backlog: %.3f s (%s done)', $t_small, $n_small));

# ---- P1. 100k committed rows of a second, failing connection wait in
# outbox_incoming (every take reads and sorts them all)
{
	my $FAR = new_collection('far');
	sql(qq{CREATE TABLE far (id int PRIMARY KEY, name text NOT NULL);
	  SELECT webflow.bind('far', '$FAR', '{"connection": "second"}');});
	fake_fault({ match => { path => $FAR }, status => 500, count => 1000000 });
	sql(q{INSERT INTO far SELECT i, 'far ' || i FROM generate_series(1, 100000) i});
	my ($t1, $n1) = flow_pass();
	my ($t2, $n2) = flow_pass();
	my $qp1 = queued();
	attempt(!slow($t1, $t_small) && !slow($t2, $t_small) && $n1 eq '100',
		sprintf('P1: 100k committed rows of a failing connection in outbox_incoming: a pass of 100 rows takes %.2f s, then %.2f s (%s, %s done; queue %s), %.3f s without',
			$t1, $t2, $n1, $n2, $qp1, $t_small));
	fake_clear_faults();
	sql(q{SELECT webflow.unbind('far'); DROP TABLE far;});
	sql(q{DELETE FROM webflow.outbox o WHERE NOT EXISTS (SELECT 1 FROM webflow.bindings b WHERE b.id = o.binding_id)});
	sql('VACUUM webflow.outbox; VACUUM webflow.outbox_incoming');
	flow_pass();
}

# ---- P2. 100k rows flowed through outbox_incoming while a REPEATABLE READ
# transaction that read the queue (a pg_dump, a report on webflow.status)
# is open: no truncate (its lock), no vacuum (its snapshot)
{
	my ($ta, $na) = flow_pass();
	my $old = $node->background_psql('postgres');
	$old->query_safe(q{BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM webflow.status});
	my $G = new_collection('gone');
	sql(qq{CREATE TABLE gone (id int PRIMARY KEY, name text NOT NULL); SELECT webflow.bind('gone', '$G');});
	sql(q{INSERT INTO gone SELECT i, 'gone ' || i FROM generate_series(1, 100000) i});
	# (as if published: the take moved them, the record step deleted them)
	sql(q{DELETE FROM webflow.outbox o USING webflow.bindings b WHERE b.id = o.binding_id AND b.source = 'gone'::regclass});
	my ($t1, $n1) = flow_pass();
	my ($t2, $n2) = flow_pass();
	my $sz = sql(q{SELECT pg_relation_size('webflow.outbox_incoming')});
	$old->query_safe('COMMIT');
	$old->quit;
	attempt(!slow($t1, $ta) && !slow($t2, $ta),
		sprintf('P2: 100k rows flowed through outbox_incoming while a REPEATABLE READ reader of the queue is open (child %d bytes): a pass of 100 rows takes %.2f s, then %.2f s (%s, %s done), %.3f s before',
			$sz, $t1, $t2, $n1, $n2, $ta));
	sql(q{SELECT webflow.unbind('gone'); DROP TABLE gone;});
}

# ---- P3. slug conflicts (50 rows renamed to the names of 50 others;
# adopt.c asks whether the holder's row has a change queued, EXISTS on
# webflow.outbox, which now reaches the index-less child) while a bulk load
# of 100k rows into outbox_incoming is open
{
	sub conflict_pass
	{
		$gen++;
		sql(qq{UPDATE flow SET name = 'flow ' || id || ' g$gen' WHERE id BETWEEN 51 AND 100});
		sql('SELECT webflow.drain(100)');
		sql(qq{UPDATE flow SET name = 'flow ' || (id + 50) || ' g$gen' WHERE id BETWEEN 1 AND 50});
		my $t0 = time;
		my $n = sql('SELECT webflow.drain(100)');
		my $dt = time - $t0;
		sql(q{DELETE FROM webflow.outbox WHERE row_key::int BETWEEN 1 AND 50 AND binding_id = (SELECT id FROM webflow.bindings WHERE source = 'flow'::regclass)});
		sql(qq{UPDATE flow SET name = 'flow ' || id || ' r$gen' WHERE id BETWEEN 1 AND 50});
		return ($dt, $n);
	}
	my $B = new_collection('bulk');
	sql(qq{CREATE TABLE bulk (id int PRIMARY KEY, name text NOT NULL); SELECT webflow.bind('bulk', '$B');});
	my ($t0c, $n0c) = conflict_pass();
	($t0c, $n0c) = conflict_pass();
	my $bulk = $node->background_psql('postgres');
	$bulk->query_safe(q{BEGIN; INSERT INTO bulk SELECT i, 'bulk ' || i FROM generate_series(1, 100000) i});
	my ($t1c, $n1c) = conflict_pass();
	$bulk->query_safe('ROLLBACK');
	$bulk->quit;
	drain_all();
	attempt(!slow($t1c, $t0c),
		sprintf('P3: 50 slug conflicts in a pass while a bulk load of 100k rows into outbox_incoming is open: %.2f s (%s done), %.3f s without (%s)',
			$t1c, $n1c, $t0c, $n0c));
}

attack_summary('incoming-attack');
done_testing();
