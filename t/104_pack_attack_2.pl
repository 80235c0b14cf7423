# t/104_pack_attack_2.pl: a second fresh view on packed outbox rows
# (outbox_pack.c, drain.c unpack/CLAIM_HELD_SQL, ON_ITS_WAY_SQL, adopt.c).
# Goes where t/103 did not: open transactions holding packed rows
# (starvation), pass cost with held rows, reference waits with packed
# changes, named connections, the worker with locked packed rows.
# Each attempt checks that a guarantee HOLDS; a failing check is a BREAK.
# ATTEMPTS="1 2" runs only those.
#
# Verdicts on c2a378f (atk25):
#   1, 1b, 1p, 1r BROKE: tables a1 and b1 feed one collection; a1 has one packed
#       row (a 600-row insert); an open DROP TABLE a1 / unbind('a1') /
#       prepared DROP TABLE (across a restart) / a role's (owner,
#       not superuser) open DROP TABLE deletes it uncommitted:
#       CLAIM_HELD_SQL still sees it (no lock check), UNPACK_SQL skips it
#       (SKIP LOCKED), so every fresh row of b1 newer than it is held back
#       for as long as the transaction stays open.  1ctl (400 rows, not
#       packed): b1 published after 2 passes.  1c (other collection) holds.
#   6 BROKE: named connections: connection "small"'s packed row waits
#       behind 40 packed rows of the default connection (UNPACK_SQL takes
#       the 4 oldest whatever their connection), and its own fresh row is
#       held behind it: 14 passes; 6ctl (not packed): 3 passes.
#   9 BROKE: a slug held by an item of another table of the collection
#       whose rename is queued (packed): adopt.c holder_row looks for the
#       holder's queued change in the claiming row's binding only; the row
#       fails for good (max_attempts 3).  9ctl (one table) holds.
#       Timing-dependent: broke run alone 3 times of 3, held once in a full
#       run (the rename reached Webflow within the 3 attempts' backoff).
#   8b BROKE (minor): a held collection's packed rows are still unpacked
#       first (4 a pass), so other collections wait backlog/4 passes.
#   3 BROKE, 3ctl too (not packing-specific): the worker runs ~150
#       transactions/s while an open DROP TABLE holds queued rows
#       (NEXT_DUE_SQL says due now).
#   held: 1c, 1ctl, 2 (60,000 held rows: a pass 0.06-0.14 s), 4, 5 (50
#       slug conflicts with 100 packed rows: 0.5 s against 0.08 s), 6ctl, 8
#       (201 packed: pass 0.07 s, status 0.03 s, queue 0.13 s), 9ctl.
#   7: a note only: TRUNCATE with two tables in a collection is documented
#       as not published (a WARNING).
#
# After the fixes (main): a packed row that an open transaction deletes or
# holds (its xmax in progress) holds back its own binding only; the unpack
# goes per connection, before each connection's claim; holder_row looks
# for the slug holder's change in every binding of the collection; the
# worker waits a second after a pass that took nothing of what was due.
# Attempts changed with them: 1p and 1r give the other table keys that do
# not collide with a1p's and a1r's (two tables feeding one collection with
# the same key share one item: a documented limitation, t/031), 2 holds
# the 60,000 fresh rows in the dropped table itself (the other table's
# rows are no longer held), 6 expects the passes a connection's share of
# 200 rows a pass needs (601 rows: 4), 8b checks that every pass publishes
# its share of the oldest changes (the held table's collection's other
# tables are no longer held).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use FindBin;
use lib $FindBin::RealBin;
use WebflowTest;

sub attempt { return attack_attempt(@_); }

start_fake();
my $node = new_node('pack2', 'webflow.worker_enabled' => 'off',
	'webflow.max_attempts' => 100, max_prepared_transactions => 5);
sub sql { return $node->safe_psql('postgres', $_[0]); }
sub try { return psql_try($node, $_[0]); }
sub drain_all { return drain_queue($node, @_); }
sub site_matches { return site_matches_on($node, @_); }
sub packed { return sql(q{SELECT count(*) FROM webflow.outbox_packed}); }
sub queued
{
	return sql(q{SELECT (SELECT count(*) FROM webflow.outbox)
	  + (SELECT count(*) FROM webflow.outbox_packed)});
}
sub new_table
{
	my ($t, $coll) = @_;
	my $c = $coll // fake_collection('pack2', $t);
	sql(qq{CREATE TABLE IF NOT EXISTS $t (id int PRIMARY KEY, name text NOT NULL); SELECT webflow.bind('$t', '$c');});
	return $c;
}
sub live_has
{
	my ($c, @names) = @_;
	my %live = map { $_ => 1 } @{ live_item_names($c) };
	return !grep { !$live{$_} } @names;
}
# passes(N, CODE): up to N drain() calls (0.2 s apart) until CODE is true
sub passes
{
	my ($n, $code) = @_;
	for my $i (1 .. $n)
	{
		return $i if $code->();
		sql('SELECT webflow.drain()');
		sleep(0.2);
	}
	return $code->() ? $n : 0;
}
my %only = map { $_ => 1 } split ' ', ($ENV{ATTEMPTS} // '');
sub want { return !%only || $only{ $_[0] }; }

# 1: tables a1 and b1 feed one collection; a1 has packed rows; an open
# DROP TABLE a1 holds them (deletes them, uncommitted): are b1's fresh
# changes published while it is open?
for my $how (['1', 'DROP TABLE a1', 600], ['1b', q{SELECT webflow.unbind('a1')}, 600],
	['1ctl', 'DROP TABLE a1', 400])
{
	my ($tag, $stmt, $rows) = @$how;
	next unless want($tag);
	my $c = fake_collection('pack2', "c$tag");
	sql(q{DROP TABLE IF EXISTS a1, b1});
	new_table('a1', $c);
	new_table('b1', $c);
	sql(qq{INSERT INTO a1 SELECT i, 'a1 ' || i FROM generate_series(1, $rows) i});
	my $p = packed();
	my $s = $node->background_psql('postgres', on_error_stop => 0);
	$s->query_safe("BEGIN; $stmt;");
	sql(qq{INSERT INTO b1 VALUES (100001, 'b1 one $tag'), (100002, 'b1 two $tag')});
	my $n = passes(15, sub { live_has($c, "b1 one $tag", "b1 two $tag") });
	my $q = sql(q{SELECT string_agg(binding_id || ':' || state || ':' || packed, ',') FROM (SELECT DISTINCT binding_id, state, packed FROM webflow.queue) x});
	attempt($n > 0, "$tag another table's fresh rows of the same collection published while $stmt is open ($p packed of a1): "
		. ($n ? "after $n passes" : 'not after 15 passes') . "; queue: $q");
	$s->query_safe('COMMIT');
	$s->quit;
	my $d = drain_all(40);
	my ($ok, $desc) = site_matches('b1', $c);
	attempt($d && $ok, "$tag after the commit: b1 alone live: $desc");
	sql(q{DROP TABLE IF EXISTS a1, b1});
}

# 1p: the DROP TABLE prepared (PREPARE TRANSACTION), across a restart
if (want('1p'))
{
	my $c = fake_collection('pack2', 'c1p');
	new_table('a1p', $c);
	new_table('b1p', $c);
	sql(q{INSERT INTO a1p SELECT i, 'a1p ' || i FROM generate_series(1, 600) i});
	sql(q{BEGIN; DROP TABLE a1p; PREPARE TRANSACTION 'drop_a1p'});
	sql(q{INSERT INTO b1p VALUES (100001, 'b1p one')});
	$node->restart;
	my $n = passes(15, sub { live_has($c, 'b1p one') });
	attempt($n > 0, "1p b1p's row published while a prepared DROP TABLE of a1p (packed, same collection) waits, after a restart: " . ($n ? "after $n passes" : 'not after 15 passes'));
	sql(q{ROLLBACK PREPARED 'drop_a1p'});
	my $d = drain_all(40);
	my ($ok, $desc) = site_matches('a1p', $c);
	my $lb = live_has($c, 'b1p one');
	my $nl = scalar(@{ live_item_names($c) });
	attempt($d && $lb && $nl == 601 && live_has($c, 'a1p 1', 'a1p 600'), "1p after ROLLBACK PREPARED: a1p's rows and b1p's row live: $desc; b1p live: $lb");
}

# 1r: a role (not superuser) that owns a1r drops it in an open transaction
if (want('1r'))
{
	my $c = fake_collection('pack2', 'c1r');
	sql(q{DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'alice') THEN CREATE ROLE alice LOGIN; END IF; END $$});
	new_table('a1r', $c);
	new_table('b1r', $c);
	sql(q{ALTER TABLE a1r OWNER TO alice});
	sql(q{INSERT INTO a1r SELECT i, 'a1r ' || i FROM generate_series(1, 600) i});
	my $s = $node->background_psql('postgres', on_error_stop => 0, extra_params => ['-U', 'alice']);
	$s->query_safe('BEGIN; DROP TABLE a1r;');
	sql(q{INSERT INTO b1r VALUES (100001, 'b1r one')});
	my $n = passes(15, sub { live_has($c, 'b1r one') });
	attempt($n > 0, "1r b1r's row published while role alice's open DROP TABLE a1r (packed, same collection) waits: " . ($n ? "after $n passes" : 'not after 15 passes'));
	$s->query_safe('ROLLBACK');
	$s->quit;
	my $d = drain_all(40);
	my $nl = scalar(@{ live_item_names($c) });
	attempt($d && $nl == 601, "1r after alice's ROLLBACK: $nl live for 601 rows");
}

# 1c: the same with a1 and b1 feeding different collections (held rows of
# one collection only)
if (want('1c'))
{
	my $ca = new_table('a1c');
	my $cb = new_table('b1c');
	sql(q{INSERT INTO a1c SELECT i, 'a1c ' || i FROM generate_series(1, 600) i});
	sql(q{INSERT INTO b1c SELECT i, 'b1c ' || i FROM generate_series(1, 600) i});
	my $s = $node->background_psql('postgres', on_error_stop => 0);
	$s->query_safe('BEGIN; DROP TABLE a1c;');
	sql(q{INSERT INTO b1c VALUES (100001, 'b1c one')});
	my $n = passes(20, sub { live_has($cb, 'b1c one', 'b1c 600') });
	attempt($n > 0, "1c other collection published while DROP TABLE of a packed table is open: " . ($n ? "after $n passes" : 'not after 20'));
	$s->query_safe('ROLLBACK');
	$s->quit;
	my $d = drain_all(40);
	my ($ok, $desc) = site_matches('a1c', $ca);
	attempt($d && $ok, "1c after the DROP rolled back, a1c published: $desc");
}

# 2: pass cost with held rows: an open DROP TABLE holds a packed row of
# collection C and 60,000 fresh rows of the same table (COPY: one by one,
# not packed); a row of another table of C and one of another collection
# are queued after them: how long does a pass take to publish them,
# against the same pass without the held rows?
if (want(2))
{
	my $c = fake_collection('pack2', 'c2');
	new_table('a2', $c);
	new_table('b2', $c);
	my $cx = new_table('x2');
	sql(q{INSERT INTO a2 SELECT i, 'a2 ' || i FROM generate_series(1, 600) i});
	sql(q{COPY a2 FROM PROGRAM 'seq 200001 260000 | sed -e "s/.*/&\ta2 &/"'});
	my $s = $node->background_psql('postgres', on_error_stop => 0);
	$s->query_safe('BEGIN; DROP TABLE a2;');
	my $fresh = sql(q{SELECT count(*) FROM webflow.outbox});
	sql(q{INSERT INTO b2 VALUES (1, 'b2 one')});
	sql(q{INSERT INTO x2 VALUES (1, 'x2 one')});
	my @t;
	for my $i (1 .. 3)
	{
		my $t0 = time;
		sql('SELECT webflow.drain()');
		push @t, sprintf('%.3f', time - $t0);
	}
	my $lx = live_has($cx, 'x2 one') && live_has($c, 'b2 one');
	$s->query_safe('COMMIT');
	$s->quit;
	# baseline: the same backlog not held
	sql(q{INSERT INTO x2 VALUES (2, 'x2 two')});
	my @b;
	for my $i (1 .. 3)
	{
		my $t0 = time;
		sql('SELECT webflow.drain()');
		push @b, sprintf('%.3f', time - $t0);
	}
	diag("2: $fresh rows queued; passes with held rows: @t s; without: @b s");
	my $max = (sort { $b <=> $a } @t)[0];
	attempt($lx && $max < 1.0, "2 pass with 60,000 held fresh rows of one table: @t s (without hold: @b s); its collection's other table's row and another collection's row live: $lx");
	sql(q{SELECT webflow.unbind('b2'); SELECT webflow.unbind('x2')});
}

# 3: the worker while an open DROP TABLE holds a packed row: does it run
# passes back to back (NEXT_DUE_SQL: any packed row makes a pass due now)?
# 3ctl: the same with 400 rows (fresh outbox rows, not packed)
for my $how (['3', 600], ['3ctl', 400])
{
	my ($tag, $rows) = @$how;
	next unless want($tag);
	my $c = fake_collection('pack2', "c$tag");
	sql(q{DROP TABLE IF EXISTS a3});
	new_table('a3', $c);
	sql(qq{INSERT INTO a3 SELECT i, 'a3 ' || i FROM generate_series(1, $rows) i});
	my $s = $node->background_psql('postgres', on_error_stop => 0);
	$s->query_safe('BEGIN; DROP TABLE a3;');
	sql(q{ALTER SYSTEM SET webflow.worker_enabled = on; SELECT pg_reload_conf()});
	sleep(2);
	my $x0 = sql(q{SELECT xact_commit FROM pg_stat_database WHERE datname = 'postgres'});
	sql('SELECT pg_stat_clear_snapshot()');
	sleep(3);
	my $x1 = sql(q{SELECT xact_commit FROM pg_stat_database WHERE datname = 'postgres'});
	my $rate = ($x1 - $x0) / 3;
	$s->query_safe('COMMIT');
	$s->quit;
	sleep(2);
	my $y0 = sql(q{SELECT xact_commit FROM pg_stat_database WHERE datname = 'postgres'});
	sleep(3);
	my $y1 = sql(q{SELECT xact_commit FROM pg_stat_database WHERE datname = 'postgres'});
	my $idle = ($y1 - $y0) / 3;
	sql(q{ALTER SYSTEM SET webflow.worker_enabled = off; SELECT pg_reload_conf()});
	sleep(1);
	diag("$tag: commits/s with locked rows: $rate; idle: $idle");
	attempt($rate < 50, "$tag worker with $rows rows (" . ($rows >= 500 ? 'packed' : 'fresh') . ") held by an open DROP TABLE: $rate transactions/s (idle: $idle)");
}

# 4: a book referencing an author that is never queued, while the
# authors' collection keeps receiving packed bulk changes: does the book
# ever fail (as it does without them), or wait for good?
if (want(4))
{
	sql(q{ALTER SYSTEM SET webflow.max_attempts = 3; SELECT pg_reload_conf()});
	my $A = fake_collection('pack2', 'authors4');
	my $B = fake_collection('pack2', 'books4');
	my ($st) = fake_api('POST', "/collections/$B/fields",
		{ type => 'Reference', displayName => 'Author', slug => 'author',
		  validations => { collectionId => $A } }, actor => 'designer');
	die "could not add the reference field: $st\n" unless $st == 200;
	sql(qq{CREATE TABLE authors4 (id int PRIMARY KEY, name text NOT NULL); SELECT webflow.bind('authors4', '$A');
	  CREATE TABLE books4 (id int PRIMARY KEY, name text NOT NULL, author_id int);
	  SELECT webflow.bind('books4', '$B', '{"fields": {"author_id": "author"}}')});
	sql(q{INSERT INTO authors4 VALUES (0, 'author zero')});
	drain_all();
	# control: no packed changes
	sql(q{INSERT INTO books4 VALUES (1, 'book control', 999999)});
	my $t0 = time;
	wait_until(sub { sql('SELECT webflow.drain()');
		sql(q{SELECT count(*) FROM webflow.outbox WHERE state = 'failed'}) ne '0' }, 40, 0.5);
	my $ctl = sql(q{SELECT state || ' after ' || attempts || ' attempts' FROM webflow.outbox WHERE row_key LIKE '%1%' AND binding_id = (SELECT id FROM webflow.bindings WHERE source = 'books4'::regclass)});
	my $tc = sprintf('%.0f', time - $t0);
	sql(q{DELETE FROM webflow.outbox WHERE state = 'failed'});
	# attack: a bulk author import between passes
	sql(q{INSERT INTO books4 VALUES (2, 'book waits', 888888)});
	my $base = 1000;
	my $t1 = time;
	my $failed = 0;
	while (time - $t1 < 40)
	{
		sql(qq{INSERT INTO authors4 SELECT i, 'author ' || i FROM generate_series($base, $base + 4999) i});
		$base += 5000;
		sql('SELECT webflow.drain()');
		$failed = sql(q{SELECT count(*) FROM webflow.outbox WHERE state = 'failed'});
		last if $failed ne '0';
		sleep(0.5);
	}
	my $st2 = sql(q{SELECT string_agg(state || ' attempts ' || attempts || ' ' || coalesce(last_error, ''), ';') FROM webflow.outbox WHERE binding_id = (SELECT id FROM webflow.bindings WHERE source = 'books4'::regclass)});
	my $tw = sprintf('%.0f', time - $t1);
	attempt($failed ne '0', "4 book referencing a key never queued: control (no packed): $ctl in $tc s; with packed author imports: after $tw s: $st2");
	sql(q{ALTER SYSTEM SET webflow.max_attempts = 100; SELECT pg_reload_conf()});
	sql(q{DELETE FROM books4});
	drain_all(400);
}

# 5: the cost of a slug conflict while the binding has many packed rows
# (adopt.c holder_row reads every key of every packed row of the binding
# for each conflicting change): a pass of 50 conflicting changes against
# a pass of 50 plain ones, with ~100 packed rows (100,000 changes) left
if (want(5))
{
	my $c = new_table('a5');
	sql(q{INSERT INTO a5 SELECT i, 'dup ' || i FROM generate_series(1, 50) i});
	drain_all();
	sql(q{INSERT INTO a5 SELECT i, CASE WHEN i <= 1050 THEN 'dup ' || (i - 1000) ELSE 'a5 ' || i END FROM generate_series(1001, 101000) i});
	my $p0 = packed();
	my @t;
	for my $i (1 .. 4)
	{
		my $t0 = time;
		sql('SELECT webflow.drain(50)');
		push @t, sprintf('%.3f', time - $t0);
	}
	my $st = sql(q{SELECT string_agg(DISTINCT o.state || ' ' || coalesce(left(o.last_error, 80), ''), '; ') FROM webflow.outbox o JOIN webflow.bindings b ON b.id = o.binding_id WHERE b.source = 'a5'::regclass AND o.row_key::text LIKE '%10%' AND o.attempts > 0});
	diag("5: $p0 packed; passes of 50 (first: conflicting slugs): @t s; states: $st");
	attempt($t[0] < 2 * ($t[2] + 0.5), "5 a pass of 50 slug conflicts with $p0 packed rows left: @t s (the first conflicting, the others not)");
	sql(q{SELECT webflow.unbind('a5')});
}

# 6: named connections: a bulk change of connection "small" packed after
# 40 packed rows of the default connection's import: each connection gets
# its share of a pass (claim()), but the unpack takes the 4 oldest packed
# rows whatever their connection; how many passes until "small"'s rows
# are live?  6ctl: 400 rows (fresh, not packed) on "small"
for my $how (['6', 600], ['6ctl', 400])
{
	my ($tag, $rows) = @$how;
	next unless want($tag);
	my %e = fake_env();
	my $url = $e{WEBFLOW_FAKE_URL};
	sql(qq{DO \$\$ BEGIN IF NOT EXISTS (SELECT FROM pg_foreign_server WHERE srvname = 'small') THEN
	  CREATE SERVER small FOREIGN DATA WRAPPER webflow OPTIONS (api_url '$url');
	  CREATE USER MAPPING FOR CURRENT_USER SERVER small OPTIONS (token 'test-token'); END IF; END \$\$});
	sql(q{DROP TABLE IF EXISTS big6, small6});
	my $cb = new_table('big6');
	my $cs = fake_collection('pack2', "small$tag");
	sql(qq{CREATE TABLE small6 (id int PRIMARY KEY, name text NOT NULL); SELECT webflow.bind('small6', '$cs', '{"connection": "small"}')});
	sql(q{INSERT INTO big6 SELECT i, 'big ' || i FROM generate_series(1, 40000) i});
	sql(qq{INSERT INTO small6 SELECT i, 'small ' || i FROM generate_series(1, $rows) i});
	sql(q{INSERT INTO small6 VALUES (0, 'small single')});
	my $p = packed();
	my $t0 = time;
	my $n = 0;
	for my $i (1 .. 40)
	{
		sql('SELECT webflow.drain(200)');
		$n = $i;
		last if live_has($cs, 'small single', "small $rows");
	}
	my $ok = live_has($cs, 'small single', "small $rows");
	my $bigl = scalar(@{ live_item_names($cb) });
	my $el = sprintf('%.1f', time - $t0);
	# (a connection's share of a pass is 200 rows: its rows take that many passes)
	my $want = int(($rows + 1 + 199) / 200);
	attempt($ok && $n <= $want, "$tag connection small's $rows+1 rows ($p packed in all) live after $n passes of drain(200) (its share: $want), $el s (big's live by then: $bigl); live: $ok");
	sql(q{SELECT webflow.unbind('big6'); SELECT webflow.unbind('small6')});
	sql(q{DROP TABLE big6, small6});
}

# 7: TRUNCATE of one of two tables feeding one collection (disjoint
# keys), with packed rows of each: only the truncated table's items go
# 7ctl: 400 rows each (not packed); 7nu: 600 rows, no update of a7
for my $how (['7', 600, 1], ['7ctl', 400, 1], ['7nu', 600, 0])
{
	my ($tag, $rows, $upd) = @$how;
	next unless want($tag);
	my $c = fake_collection('pack2', "c$tag");
	sql(q{DROP TABLE IF EXISTS a7, b7});
	new_table('a7', $c);
	new_table('b7', $c);
	sql(qq{INSERT INTO a7 SELECT i, 'a7 ' || i FROM generate_series(1, $rows) i});
	sql(qq{INSERT INTO b7 SELECT i, 'b7 ' || i FROM generate_series(1001, 1000 + $rows) i});
	drain_all();
	sql(q{UPDATE a7 SET name = name || ' x'}) if $upd;
	sql(q{TRUNCATE b7});
	my $q = sql(q{SELECT string_agg(x, ', ') FROM (SELECT b.source || ' ' || o.op || ' ' || count(*) || (CASE WHEN o.packed THEN ' packed' ELSE '' END) AS x FROM webflow.queue o JOIN webflow.bindings b ON b.id = o.binding_id GROUP BY o.packed, b.source, o.op) y});
	my $d = drain_all(80);
	my ($ok, $desc) = site_matches('a7', $c);
	# (documented: _truncate_trigger warns and publishes nothing when
	# another table feeds the collection: a note, not a verdict)
	diag("note (documented limitation, not a verdict): $d && $ok, $tag TRUNCATE b7 ($rows rows each; a7 and b7 feed one collection" . ($upd ? '; a7 updated before' : '') . "): a7's rows alone live: $desc; queued after the TRUNCATE: $q");
	sql(q{DROP TABLE IF EXISTS a7, b7});
}

# 8: pass cost with 200 packed rows (200,000 changes) over 4 collections,
# one of them held by an open DROP TABLE of a fifth table of its
# collection: the time of single passes, of webflow.status and webflow.queue
if (want(8))
{
	my @c = map { new_table("t8_$_") } 1 .. 4;
	new_table('h8', $c[0]);
	sql(q{INSERT INTO h8 SELECT i, 'h8 ' || i FROM generate_series(900001, 900600) i});
	sql(qq{INSERT INTO t8_$_ SELECT i, 't8 ' || i FROM generate_series(1, 50000) i}) for 1 .. 4;
	my $p = packed();
	my $s = $node->background_psql('postgres', on_error_stop => 0);
	$s->query_safe('BEGIN; DROP TABLE h8;');
	my @t;
	for my $i (1 .. 5)
	{
		my $t0 = time;
		sql('SELECT webflow.drain(100)');
		push @t, sprintf('%.3f', time - $t0);
	}
	my $t0 = time;
	sql('SELECT count(*) FROM webflow.status');
	my $ts = sprintf('%.3f', time - $t0);
	$t0 = time;
	sql('SELECT count(*) FROM webflow.queue');
	my $tq = sprintf('%.3f', time - $t0);
	my $live1 = scalar(@{ live_item_names($c[1]) });
	my $live0 = scalar(@{ live_item_names($c[0]) });
	my $n = 5;
	my $tt = time;
	# (the oldest changes go first: c[0]'s table t8_1 was written first;
	# every pass must publish its 100 of them, none wasted on h8's)
	for (1 .. 5)
	{
		sql('SELECT webflow.drain(100)');
		$n++;
	}
	my $done = scalar(@{ live_item_names($c[0]) }) + scalar(@{ live_item_names($c[1]) });
	my $el = sprintf('%.1f', time - $tt);
	my $left = packed();
	$s->query_safe('ROLLBACK');
	$s->quit;
	diag("8: $p packed; passes of drain(100): @t s; status $ts s; queue $tq s; live of the held collection $live0 after 5 passes, $done in the two oldest collections after $n ($el s more); packed left $left");
	my $max = (sort { $b <=> $a } @t)[0];
	attempt($max < 1.0 && $ts < 2, "8 $p packed rows, one collection held: passes @t s, status $ts s, queue $tq s");
	attempt($done >= 100 * ($n - 1), "8b while a table of a collection is held by an open DROP TABLE, every pass publishes its share of the oldest changes: $done live after $n passes of drain(100)");
	sql(q{SELECT webflow.unbind('t8_' || i) FROM generate_series(1, 4) i; SELECT webflow.unbind('h8')});
	sql(q{DROP TABLE h8, t8_1, t8_2, t8_3, t8_4});
}

# 9: a slug held by an item of another table of the collection whose
# rename is packed (queued): the fresh row that wants the slug waits for
# it (holder_row: the holder has a change queued) or fails?  20 packed
# rows of another collection sit before the rename.  9ctl: both rows in
# one table.  max_attempts 3.
for my $how (['9', 'b9'], ['9ctl', 'a9'])
{
	my ($tag, $tb) = @$how;
	next unless want($tag);
	sql(q{ALTER SYSTEM SET webflow.max_attempts = 3; SELECT pg_reload_conf()});
	sql(q{DROP TABLE IF EXISTS a9, b9, x9});
	my $c = fake_collection('pack2', "c$tag");
	new_table('a9', $c);
	new_table('b9', $c);
	new_table('x9');
	sql(q{INSERT INTO a9 VALUES (1, 'same')});
	drain_all();
	sql(qq{INSERT INTO $tb VALUES (5001, 'same')});
	sql(q{INSERT INTO x9 SELECT i, 'x9 ' || i FROM generate_series(1, 20000) i});
	sql(q{INSERT INTO a9 SELECT i, 'a9 ' || i FROM generate_series(2, 600) i});
	sql(q{UPDATE a9 SET name = name || ' renamed'});
	my $d = drain_all(120);
	my $f = sql(q{SELECT string_agg(row_key || ' ' || attempts || ' ' || left(coalesce(last_error, ''), 120), '; ') FROM webflow.outbox WHERE state = 'failed'});
	my $live = live_has($c, 'same', 'same renamed');
	attempt($live, "$tag row 5001 'same' in $tb while a9's row 1 ('same') is renamed in a packed change: live: $live; failed: $f");
	sql(q{ALTER SYSTEM SET webflow.max_attempts = 100; SELECT pg_reload_conf()});
	sql(q{SELECT webflow.unbind(x) FROM unnest(ARRAY['a9', 'b9', 'x9']::regclass[]) x});
	sql(q{DELETE FROM webflow.outbox WHERE state = 'failed'});
}

attack_summary('104');
done_testing();
