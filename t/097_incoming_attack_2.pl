# t/097_incoming_attack_2.pl: a second tester's attacks on the
# outbox_incoming mechanism (661e7f5, 073ecd1): the publish trigger and
# every SQL enqueue write into webflow.outbox_incoming (INHERITS
# webflow.outbox, no index); each pass may truncate it (>= 1 MB, empty, its
# lock free), then takes up to 10,000 lowest-id rows per connection into
# the outbox (FOR UPDATE SKIP LOCKED, held keys' newer rows left), and the
# claim leaves a parent row whose key has an older change in the child.
# Angles t/096 did not try.
#
# Each attempt checks that a guarantee HOLDS; a failing check is a BREAK.
# Verdicts come from what a visitor sees (fake_pages: every page of the
# live items) and from both tables of the queue.  drain() runs the passes
# unless an attempt turns the background worker on.
#
# Attempts (verdict on 073ecd1):
#   1   a non-superuser (alice, EXECUTE on bind/unbind as in t/096 #14)
#       queues 12,000 rows, then leaves BEGIN; SELECT webflow.unbind(her
#       table) open: its DELETE row-locks her rows in outbox_incoming, they
#       are the 10,000 oldest of the connection, the take's "chosen" is
#       only them, "got" skips them all: nobody's change is taken while she
#       waits; 0 of 20 of another role's changes published after 4 passes
#       (BREAK: a role stalls publishing for others)
#   1b  the same one level up: 1,200 of her rows already taken into the
#       outbox (a pass of one row): the claim's "seen" (the 1,000 oldest
#       fresh rows) is only hers, all locked: 0 of 40 published (BREAK;
#       the claim did the same before 1.1)
#   2   default_transaction_read_only = on in postgresql.conf (writers use
#       BEGIN READ WRITE): every pass fails ("cannot execute UPDATE in a
#       read-only transaction"): passes force READ COMMITTED, not READ
#       WRITE (BREAK: a pass that errors forever)
#   3   default_transaction_isolation = serializable: updates, deletes,
#       TRUNCATE in READ COMMITTED, the shrink (holds)
#   4   a superuser's hand-made row in webflow.outbox (+ wake()) between an
#       older change of its key held in the child and a newer one (holds)
#   5   retry() of a failed change while a newer change of its key is held
#       in the child (holds)
#   6   verify() and sync() (twice) while the child holds a delete, an
#       insert and a held update (holds)
#   7   a superuser renames outbox_incoming with a change pending: the
#       writer silently falls back to the outbox, the take to nothing; the
#       newer change is published, and when the name comes back the older
#       one, taken later, overwrites it (BREAK: no error anywhere, the site
#       ends with an older state)
#   8   a superuser's NO INHERIT: _truncate_trigger reads webflow.outbox,
#       no longer the child: a TRUNCATE after 3 inserts leaves 3 items
#       live for an empty table (BREAK: silent)
#   9   a bound partitioned table, rows moved between partitions and back
#       while one key's change is held (holds)
#   10  one table bound to two collections over two connections, one
#       binding's key held, then TRUNCATE (holds)
#   11  lock_timeout 10ms / statement_timeout 200ms in postgresql.conf, the
#       worker, a reader's open transaction on webflow.outbox while the
#       child is big: rows flow, the shrink waits, then shrinks (holds)
#   12  the worker, autovacuum off, 30 s of single-row transactions with
#       two bulk loads of 20,000: nothing stuck, the child truncated after
#       (holds; ~3 MB after each bulk load, truncated between or after)
#   P   a pass of 100 rows (drain(100)) with 1,000,000 rows of a bulk load
#       in outbox_incoming on the same connection: ~1.6 s against ~0.2 s
#       without (the take sorts every row of the child, row_number() over
#       the connection, to pick 10,000, on every pass) (BREAK: > 5x and
#       > 1 s; the design says a pass stays short behind millions)
#   13  DROP EXTENSION CASCADE with a row pending while the worker runs,
#       CREATE EXTENSION, a new binding (the take's kept plan) (holds)
# The end prints "incoming-attack-2: N attempts, M breaks".
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
my $node = new_node('incoming2', 'webflow.worker_enabled' => 'off',
	'webflow.max_attempts' => 100, max_prepared_transactions => 5);
sub sql { return $node->safe_psql('postgres', $_[0]); }
sub try { return psql_try($node, $_[0]); }
sub queued
{
	return sql(q{SELECT (SELECT count(*) FROM ONLY webflow.outbox) || '/' || (SELECT count(*) FROM ONLY webflow.outbox_incoming)});
}
sub drain_all
{
	my ($tries) = @_;
	my $q = q{SELECT count(*) FROM webflow.outbox WHERE state <> 'failed'};
	for (1 .. ($tries // 60))
	{
		return 1 if sql($q) eq '0';
		my $n = sql('SELECT webflow.drain()');
		sleep(0.3) if $n eq '0';
	}
	return sql($q) eq '0';
}
sub live_names
{
	return [ map { $_->{fieldData}{name} // '' } @{ fake_pages($_[0], live => 1) } ];
}
sub site_matches
{
	my ($table, $coll) = @_;
	my @live = @{ live_names($coll) };
	my @want = split /\|/, sql(qq{SELECT coalesce(string_agg(name, '|'), '') FROM $table});
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
my $ncoll = 0;
sub new_collection
{
	my ($name) = @_;
	$ncoll++;
	my ($st, $c) = fake_api('POST', "/sites/$SITE/collections", {
			displayName => "$name $ncoll", singularName => "$name $ncoll", slug => "incoming2-$ncoll",
			fields => [ { type => 'PlainText', displayName => 'Description', slug => 'description' } ] },
		actor => 'designer');
	die "could not create a collection: $st\n" unless $st == 200 && $c->{id};
	return $c->{id};
}
sub new_table
{
	my ($t) = @_;
	my $c = new_collection($t);
	sql(qq{CREATE TABLE $t (id int PRIMARY KEY, name text NOT NULL); SELECT webflow.bind('$t', '$c');});
	return $c;
}



# a second named connection
sql(qq{CREATE SERVER second FOREIGN DATA WRAPPER webflow OPTIONS (api_url '$fenv{WEBFLOW_FAKE_URL}');
  CREATE USER MAPPING FOR CURRENT_USER SERVER second OPTIONS (token 'test-token');});
sub binding_of { return sql(qq{SELECT min(id) FROM webflow.bindings WHERE source = '$_[0]'::regclass}); }
sub hold_child
{
	my ($table, $key) = @_;
	my $b = binding_of($table);
	my $lk = $node->background_psql('postgres');
	$lk->query_safe(qq{BEGIN; SELECT id FROM ONLY webflow.outbox_incoming WHERE binding_id = $b AND row_key = '$key' FOR UPDATE});
	return $lk;
}
sub conf
{
	sql(qq{ALTER SYSTEM $_[0]; SELECT pg_reload_conf();});
	sleep(0.5);
}

# ---- 1 / 1b. a non-superuser's open unbind() holds her queued rows
sql(q{CREATE ROLE alice LOGIN; CREATE SCHEMA alice AUTHORIZATION alice;
  GRANT EXECUTE ON FUNCTION webflow.bind(regclass, text, jsonb), webflow.unbind(regclass, text),
    webflow.sync(regclass), webflow.retry(boolean), webflow.drain(integer) TO alice;});
my $OC = new_table('others');
for my $v ([ '1', 12000, 0 ], [ '1b', 1200, 1 ])
{
	my ($label, $rows, $first) = @$v;
	my $AC = new_collection("alice$label");
	my ($r, $o, $e) = $node->psql('postgres', qq{CREATE TABLE alice.posts$label (id int PRIMARY KEY, name text NOT NULL);
	  SELECT webflow.bind('alice.posts$label', '$AC');
	  INSERT INTO alice.posts$label SELECT i, 'alice ' || i FROM generate_series(1, $rows) i;}, extra_params => [ '-U', 'alice' ]);
	# (1b: a pass of one row takes hers into the outbox first)
	sql('SELECT webflow.drain(1)') if $first;
	sql(qq{UPDATE others SET name = 'other ' || id || ' $label'});
	sql(qq{INSERT INTO others SELECT i, 'other ' || i || ' $label' FROM generate_series(100 * $first + 1, 100 * $first + 20) i});
	my $q0 = queued();
	my $want = sql(q{SELECT count(*) FROM others});
	my $al = $node->background_psql('postgres', extra_params => [ '-U', 'alice' ]);
	$al->query_safe(qq{BEGIN; SELECT webflow.unbind('alice.posts$label')});
	my $n = 0;
	my $t0 = time;
	for (1 .. 4)
	{
		sql('SELECT webflow.drain()');
		$n = scalar grep { / $label$/ } @{ live_names($OC) };
		last if $n == $want;
		sleep(0.5);
	}
	my $dt = time - $t0;
	my $q1 = queued();
	$al->query_safe('ROLLBACK');
	$al->quit;
	drain_all();
	my ($ok, $d) = site_matches('others', $OC);
	attempt($n == $want,
		sprintf("$label: alice (not superuser) left BEGIN; SELECT webflow.unbind(her table) open with %d of her rows queued (%s; queue parent/child %s): others' changes live after 4 drain() in %.1f s: %d of %d (queue then %s); after her ROLLBACK: %s",
			$rows, $first ? 'taken into the outbox by a pass of one row' : 'all in outbox_incoming', $q0, $dt, $n, $want, $q1, $d));
	sql(qq{SELECT webflow.unbind('alice.posts$label')});
}

# ---- 2. default_transaction_read_only = on in postgresql.conf, writers
# say BEGIN READ WRITE
{
	my $RO = new_table('ro');
	conf(q{SET default_transaction_read_only = on});
	my $w = try(q{BEGIN READ WRITE; INSERT INTO ro SELECT i, 'ro ' || i FROM generate_series(1, 5) i; COMMIT;});
	my $d1 = try(q{SELECT webflow.drain()});
	my $d2 = try(q{SELECT webflow.drain()});
	my $live = scalar @{ live_names($RO) };
	my $q2 = queued();
	conf(q{RESET default_transaction_read_only});
	drain_all();
	my ($ok, $d) = site_matches('ro', $RO);
	attempt($live == 5,
		"2: default_transaction_read_only = on in postgresql.conf, 5 rows committed by BEGIN READ WRITE (writer: $w): drain() said: "
		  . substr($d1, 0, 160) . " / " . substr($d2, 0, 60) . "; live: $live of 5 (queue $q2); after RESET: $d");
}

# ---- 3. default_transaction_isolation = serializable in postgresql.conf:
# writers in SERIALIZABLE, a TRUNCATE in READ COMMITTED, the shrink
{
	my $SE = new_table('ser');
	conf(q{SET default_transaction_isolation = 'serializable'});
	sql(q{INSERT INTO ser SELECT i, 'ser ' || i FROM generate_series(1, 10) i});
	sql(q{BEGIN; INSERT INTO ser SELECT i, 'dead ' || i || repeat('x', 100) FROM generate_series(1000, 12000) i; ROLLBACK;});
	my $size = sql(q{SELECT pg_relation_size('webflow.outbox_incoming')});
	drain_all();
	sql(q{UPDATE ser SET name = name || ' v2' WHERE id <= 5; DELETE FROM ser WHERE id = 6;});
	my $tr = try(q{BEGIN ISOLATION LEVEL READ COMMITTED; TRUNCATE ser; INSERT INTO ser VALUES (1, 'ser one again'), (20, 'ser twenty'); COMMIT;});
	sql(q{UPDATE ser SET name = 'ser twenty v2' WHERE id = 20});
	drain_all();
	my $size2 = sql(q{SELECT pg_relation_size('webflow.outbox_incoming')});
	conf(q{RESET default_transaction_isolation});
	my ($ok, $d) = site_matches('ser', $SE);
	attempt($ok && queued() eq '0/0' && $size2 < 1024 * 1024,
		"3: default_transaction_isolation = serializable: updates, a delete, a TRUNCATE (READ COMMITTED: $tr) and new rows: $d; child $size bytes, then $size2; left " . queued());
}

# ---- 4. a superuser's hand-made row in webflow.outbox (with wake()) while
# an older trigger change of its key waits, held, in outbox_incoming and a
# newer one follows
{
	my $HC = new_table('hand');
	sql(q{INSERT INTO hand SELECT i, 'hand ' || i FROM generate_series(1, 3) i});
	drain_all();
	sql(q{UPDATE hand SET name = 'hand 3 v2' WHERE id = 3});
	my $lk = hold_child('hand', 3);
	my $b = binding_of('hand');
	sql(qq{INSERT INTO webflow.outbox (binding_id, op, row_key, row_image) VALUES ($b, 'upsert', '3', '{"id": 3, "name": "hand 3 hand"}'); SELECT webflow.wake();});
	sql(q{UPDATE hand SET name = 'hand 3 v3' WHERE id = 3; UPDATE hand SET name = 'hand 2 v2' WHERE id = 2;});
	sql('SELECT webflow.drain()') for 1 .. 2;
	my $mid = join('|', sort @{ live_names($HC) });
	$lk->query_safe('COMMIT');
	$lk->quit;
	drain_all();
	my ($ok, $d) = site_matches('hand', $HC);
	attempt($ok && queued() eq '0/0',
		"4: a hand-made upsert of key 3 in webflow.outbox between a held older change (child) and a newer one: live while held: $mid; at the end: $d");
}

# ---- 5. retry() of a failed change while a newer change of its key waits
# (held) in outbox_incoming
{
	my $RT = new_table('rt');
	sql(q{INSERT INTO rt VALUES (1, 'rt 1 v1'), (2, 'rt 2 v1')});
	drain_all();
	fake_fault({ match => { kind => 'patch_live' }, status => 400, count => 1 });
	sql(q{UPDATE rt SET name = 'rt 1 v2' WHERE id = 1});
	sql('SELECT webflow.drain()') for 1 .. 2;
	fake_clear_faults();
	my $st = sql(q{SELECT string_agg(state || ' ' || row_key, ',' ORDER BY id) FROM webflow.outbox});
	sql(q{UPDATE rt SET name = 'rt 1 v3' WHERE id = 1; UPDATE rt SET name = 'rt 2 v2' WHERE id = 2});
	my $lk = hold_child('rt', 1);
	my $n = sql(q{SELECT webflow.retry()});
	sql('SELECT webflow.drain()') for 1 .. 2;
	my $mid = join('|', sort @{ live_names($RT) });
	$lk->query_safe('COMMIT');
	$lk->quit;
	drain_all();
	my ($ok, $d) = site_matches('rt', $RT);
	my $items = scalar @{ fake_items($RT) };
	attempt($ok && $st eq 'failed 1' && $items == 2 && queued() eq '0/0',
		"5: a failed change (queue: $st), a newer change of its key held in outbox_incoming, retry() requeued $n: live while held: $mid; at the end: $d, $items items in all");
}

# ---- 6. verify() and sync() while outbox_incoming holds a delete, an
# insert and a held update
{
	my $SV = new_table('sv');
	sql(q{INSERT INTO sv SELECT i, 'sv ' || i FROM generate_series(1, 5) i});
	drain_all();
	sql(q{DELETE FROM sv WHERE id = 1; INSERT INTO sv VALUES (6, 'sv 6'); UPDATE sv SET name = 'sv 2 v2' WHERE id = 2;});
	my $lk = hold_child('sv', 2);
	my $ver = sql(q{SELECT string_agg(difference || ' ' || coalesce(row_key, '-'), ',' ORDER BY row_key) FROM webflow.verify('sv')});
	my $n = sql(q{SELECT webflow.sync('sv')});
	sql('SELECT webflow.drain()');
	sql(q{UPDATE sv SET name = 'sv 3 v2' WHERE id = 3});
	my $n2 = sql(q{SELECT webflow.sync('sv')});
	sql('SELECT webflow.drain()');
	$lk->query_safe('COMMIT');
	$lk->quit;
	drain_all();
	my ($ok, $d) = site_matches('sv', $SV);
	my $after = sql(q{SELECT count(*) FROM webflow.verify('sv')});
	my $items = scalar @{ fake_items($SV) };
	attempt($ok && $after eq '0' && queued() eq '0/0',
		"6: verify() while the child held changes: $ver; sync() queued $n, then $n2 with key 2's change held: $d ($items items at the fake); verify() after: $after differences");
}

# ---- 7. a superuser renames outbox_incoming with a change pending, the
# row changes again, passes run, the name comes back
{
	my $RN = new_table('rn');
	sql(q{INSERT INTO rn SELECT i, 'rn ' || i FROM generate_series(1, 3) i});
	drain_all();
	sql(q{UPDATE rn SET name = 'rn 1 v2' WHERE id = 1});
	sql(q{ALTER TABLE webflow.outbox_incoming RENAME TO outbox_incoming_old});
	my $w = try(q{UPDATE rn SET name = 'rn 1 v3' WHERE id = 1; UPDATE rn SET name = 'rn 2 v2' WHERE id = 2;});
	my $d1 = try(q{SELECT webflow.drain()});
	my $mid = join('|', sort @{ live_names($RN) });
	sql(q{ALTER TABLE webflow.outbox_incoming_old RENAME TO outbox_incoming});
	drain_all();
	my ($ok, $d) = site_matches('rn', $RN);
	attempt($ok && queued() eq '0/0',
		"7: outbox_incoming renamed by a superuser with row 1's v2 in it; row 1 -> v3 and row 2 -> v2 then (writer: $w), drain(): $d1, live: $mid; renamed back and drained: $d; left " . queued());
}

# ---- 8. a superuser's ALTER TABLE outbox_incoming NO INHERIT, rows
# inserted, the table TRUNCATEd
{
	my $NI = new_table('ni');
	sql(q{ALTER TABLE webflow.outbox_incoming NO INHERIT webflow.outbox});
	my $w = try(q{INSERT INTO ni SELECT i, 'ni ' || i FROM generate_series(1, 3) i; TRUNCATE ni;});
	my $d1 = try(q{SELECT webflow.drain()});
	my @mid = @{ live_names($NI) };
	sql(q{ALTER TABLE webflow.outbox_incoming INHERIT webflow.outbox});
	drain_all();
	my @live = @{ live_names($NI) };
	attempt(@live == 0 && queued() eq '0/0',
		"8: outbox_incoming NO INHERIT (a superuser), 3 rows inserted and the table TRUNCATEd (writer: $w), drain(): $d1; live then " . scalar(@mid)
		  . '; INHERIT again and drained: ' . scalar(@live) . ' live (' . join('|', @live) . '), expected 0; left ' . queued());
}

# ---- 9. a bound partitioned table: rows move between partitions (their
# key changes), one key's change held in outbox_incoming
{
	my $PC = new_collection('part');
	sql(qq{CREATE TABLE part (id int, region int, name text NOT NULL, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
	  CREATE TABLE part1 PARTITION OF part FOR VALUES IN (1); CREATE TABLE part2 PARTITION OF part FOR VALUES IN (2);
	  SELECT webflow.bind('part', '$PC');
	  INSERT INTO part SELECT i, 1 + i % 2, 'part ' || i FROM generate_series(1, 8) i;});
	drain_all();
	sql(q{UPDATE part SET region = 3 - region, name = name || ' moved' WHERE id <= 4});
	my $lk = hold_child('part', '[1, 1]');
	sql(q{UPDATE part SET region = 3 - region, name = name || ' back' WHERE id = 1; DELETE FROM part WHERE id = 5; INSERT INTO part VALUES (5, 1, 'part 5 again');});
	sql('SELECT webflow.drain()');
	$lk->query_safe('COMMIT');
	$lk->quit;
	drain_all();
	my ($ok, $d) = site_matches('part', $PC);
	attempt($ok && queued() eq '0/0', "9: a partitioned table, rows moved between partitions and back while one key's change is held: $d; left " . queued());
}

# ---- 10. one table bound to two collections (over two connections), a
# change of the first binding held, then a TRUNCATE
{
	my $C1 = new_collection('two a');
	my $C2 = new_collection('two b');
	sql(qq{CREATE TABLE two (id int PRIMARY KEY, name text NOT NULL);
	  SELECT webflow.bind('two', '$C1'); SELECT webflow.bind('two', '$C2', '{"connection": "second"}');
	  INSERT INTO two SELECT i, 'two ' || i FROM generate_series(1, 5) i;});
	drain_all();
	sql(q{UPDATE two SET name = name || ' v2'});
	my $lk = hold_child('two', 2);
	sql(q{UPDATE two SET name = name || ' v3' WHERE id = 2});
	sql('SELECT webflow.drain()');
	my $mid2 = join('|', sort @{ live_names($C2) });
	sql(q{TRUNCATE two; INSERT INTO two VALUES (2, 'two 2 after'), (7, 'two 7');});
	sql('SELECT webflow.drain()');
	$lk->query_safe('COMMIT');
	$lk->quit;
	drain_all();
	my ($ok1, $d1) = site_matches('two', $C1);
	my ($ok2, $d2) = site_matches('two', $C2);
	attempt($ok1 && $ok2 && $mid2 =~ /two 2 v2 v3/ && queued() eq '0/0',
		"10: one table bound to two collections (second over connection \"second\"), key 2 of the first held: the second's live meanwhile: $mid2; after a TRUNCATE and 2 inserts: first $d1; second $d2");
}

# ---- 11. lock_timeout = 10ms and statement_timeout = 200ms in
# postgresql.conf, the worker on; a superuser's open transaction has read
# webflow.outbox (AccessShareLock on both tables) while the child is big
{
	my $LT = new_table('lt');
	conf(q{SET webflow.worker_enabled = on});
	conf(q{SET lock_timeout = '10ms'});
	conf(q{SET statement_timeout = '200ms'});
	my $pre = q{SET statement_timeout = 0; SET lock_timeout = 0; };
	sql($pre . q{BEGIN; INSERT INTO lt SELECT i, 'dead ' || i || repeat('x', 100) FROM generate_series(1000, 12000) i; ROLLBACK;});
	my $size = sql(q{SELECT pg_relation_size('webflow.outbox_incoming')});
	my $rd = $node->background_psql('postgres');
	$rd->query_safe(q{BEGIN; SELECT count(*) FROM webflow.outbox});
	sql(q{INSERT INTO lt SELECT i, 'lt ' || i FROM generate_series(1, 10) i});
	my $flow = wait_until(sub { scalar(@{ live_names($LT) }) == 10 }, 20, 0.5);
	my $size_mid = sql(q{SELECT pg_relation_size('webflow.outbox_incoming')});
	$rd->query_safe('COMMIT');
	$rd->quit;
	sql(q{UPDATE lt SET name = name || ' v2'});
	my $shrunk = wait_until(sub { sql(q{SELECT pg_relation_size('webflow.outbox_incoming')}) < 1024 * 1024 }, 20, 0.5);
	wait_for($node, q{SELECT count(*) FROM webflow.outbox}, '0', 20);
	my $problem = sql(q{SELECT coalesce(webflow.worker_status()->>'problem', '')});
	conf(q{RESET lock_timeout});
	conf(q{RESET statement_timeout});
	my ($ok, $d) = site_matches('lt', $LT);
	attempt($flow && $shrunk && $ok,
		"11: lock_timeout 10ms, statement_timeout 200ms, the worker on, a reader's open transaction on webflow.outbox while the child is $size bytes: rows flowed ($flow), child then $size_mid bytes; after the reader went: shrunk ($shrunk); $d; worker problem: '$problem'");
}

# ---- 12. the worker, autovacuum off, ~25 s of single-row transactions
# with two bulk loads of 20,000 rows among them
{
	my $SC = new_table('stream');
	my $BC = new_table('bulkw');
	sql(q{INSERT INTO stream SELECT i, 'stream ' || i FROM generate_series(1, 50) i});
	wait_for($node, q{SELECT count(*) FROM webflow.outbox}, '0', 30);
	conf(q{SET autovacuum = off});
	my $script = $node->basedir . '/stream.sql';
	open(my $fh, '>', $script) or die;
	for my $i (1 .. 2400)
	{
		my $k = 1 + $i % 50;
		print $fh "UPDATE stream SET name = 'stream $k r$i' WHERE id = $k;\n";
		print $fh "SELECT pg_sleep(0.008);\n";
		print $fh "INSERT INTO bulkw SELECT g, 'bulk ' || g FROM generate_series(" . ($i * 100) . ", " . ($i * 100 + 19999) . ") g;\n"
		  if $i == 800 || $i == 1600;
	}
	close $fh;
	my ($o, $e) = ('', '');
	my $t0 = time;
	my $h = IPC::Run::start([ 'psql', '-X', '-qAt', '-d', $node->connstr('postgres'), '-f', $script ], '>', \$o, '2>', \$e);
	my @sizes;
	while ($h->pumpable && time - $t0 < 90)
	{
		push @sizes, sql(q{SELECT pg_relation_size('webflow.outbox_incoming') / 1024});
		sleep(2);
		$h->pump_nb;
	}
	$h->finish;
	my $dur = time - $t0;
	my $drained = wait_for($node, q{SELECT count(*) FROM webflow.outbox}, '0', 90);
	my $shrunk = wait_until(sub { sql(q{SELECT pg_relation_size('webflow.outbox_incoming')}) < 1024 * 1024 }, 15, 0.5);
	my $size_end = sql(q{SELECT pg_relation_size('webflow.outbox_incoming') / 1024});
	conf(q{RESET autovacuum});
	my ($ok1, $d1) = site_matches('stream', $SC);
	my ($ok2, $d2) = site_matches('bulkw', $BC);
	attempt($drained && $ok1 && $ok2 && $shrunk && $e !~ /ERROR/,
		sprintf("12: worker, autovacuum off, %.0f s of 2,400 single-row transactions and two bulk loads of 20,000: child kB every 2 s: %s; drained after: %s; child after: %s kB (shrunk %s); stream: %s; bulk: %s",
			$dur, join(',', @sizes), $drained, $size_end, $shrunk, $d1, $d2));
	conf(q{SET webflow.worker_enabled = off});
}

# ---- P. a backlog of 1,000,000 rows on the one connection in
# outbox_incoming (a bulk load): a pass of 100 rows, against the same pass
# with no backlog
{
	my $BC = new_table('big');
	my $n0 = 0;
	my $pass100 = sub {
		$n0 += 100;
		sql(qq{INSERT INTO big SELECT i, 'big ' || i FROM generate_series($n0 - 99, $n0) i});
		my $t0 = time;
		my $n = sql('SELECT webflow.drain(100)');
		return (time - $t0, $n);
	};
	my ($t1, $n1) = $pass100->();
	($t1, $n1) = $pass100->();
	my $t0 = time;
	sql(q{INSERT INTO big SELECT i, 'big ' || i FROM generate_series(10000001, 11000000) i});
	my $tl = time - $t0;
	my ($t2, $n2) = $pass100->();
	my ($t3, $n3) = $pass100->();
	my $q = queued();
	attempt(!($t2 > 1 && $t2 > 5 * $t1) && !($t3 > 1 && $t3 > 5 * $t1),
		sprintf('P: a pass of 100 rows (drain(100)) with 1,000,000 rows of a bulk load (%.1f s) waiting in outbox_incoming: %.2f s, then %.2f s (%s, %s done; queue %s); %.2f s with no backlog (%s done)',
			$tl, $t2, $t3, $n2, $n3, $q, $t1, $n1));
	sql(q{SELECT webflow.unbind('big')});
}

# ---- 13. DROP EXTENSION webflow CASCADE with rows pending while the
# worker runs, CREATE EXTENSION, a new binding: the worker publishes it
{
	conf(q{SET webflow.worker_enabled = on});
	sql(q{INSERT INTO others VALUES (500, 'pending at drop')});
	my $dr = try(q{DROP EXTENSION webflow CASCADE});
	my $cr = try(q{CREATE EXTENSION webflow});
	my $DC = new_collection('again');
	sql(qq{CREATE TABLE again (id int PRIMARY KEY, name text NOT NULL); SELECT webflow.bind('again', '$DC');
	  INSERT INTO again SELECT i, 'again ' || i FROM generate_series(1, 10) i;});
	my $flow = wait_until(sub { scalar(@{ live_names($DC) }) == 10 }, 30, 0.5);
	sql(q{UPDATE again SET name = name || ' v2'; DELETE FROM again WHERE id = 10;});
	wait_for($node, q{SELECT count(*) FROM webflow.outbox}, '0', 30);
	my ($ok, $d) = site_matches('again', $DC);
	my $problem = sql(q{SELECT coalesce(webflow.worker_status()->>'problem', '')});
	attempt($flow && $ok,
		"13: DROP EXTENSION CASCADE ($dr) with a row pending and the worker on, CREATE EXTENSION ($cr), a new binding: published by the worker: $flow; after updates: $d; worker problem '$problem'");
}

attack_summary('incoming-attack-2');
done_testing();
