# t/098_free_bindings_attack.pl: the claim's first fix against a role's
# open unbind() starving every pass (drain.c CLAIM_SQL: a window of the
# oldest fresh rows only of bindings FOR KEY SHARE SKIP LOCKED could lock,
# or of bindings gone), attacked by a tester whose only brief was to break
# it.  Verdicts: on 065b5b7 (before any fix) 1, 2 and 4 broke; with the
# free_bindings window 8, 10, 11, 12, 13b, 6, 6b and 7 broke (a lock on
# every binding row in every claim: WAL and claim time per binding,
# MultiXacts, DDL waiting for a claim step's schema read); the claim that
# replaced it (fresh rows locked as they are read, SKIP LOCKED, the ones
# passed over read again without locks) holds them all, and 14.
#
# Each attempt is one check that a guarantee HOLDS; a failing check is a
# BREAK.  Publishing verdicts come from what a visitor sees (fake_pages:
# every page of the live items).  The worker is off: every pass is a
# drain().  Pass-cost attempts read the claim statement's own duration
# from auto_explain (loaded in the drain workers, logged at WARNING) and
# the WAL a drain() writes.
#
#   1   alice (not superuser) leaves BEGIN; DROP TABLE (her bound table,
#       1,500 rows queued) open: others' changes must flow
#   2   alice leaves BEGIN; unbind(t); bind(t, another collection) open
#       (binding deleted, re-created with a new id): others must flow
#   3   alice leaves BEGIN; bind(t, same collection) open (bind again:
#       NO KEY UPDATE of her binding row, not skipped by KEY SHARE) with
#       1,500 rows queued: others must flow; after ROLLBACK her rows live once
#   4   alice PREPAREs a transaction that unbind()s her table (2PC):
#       others must flow while it is prepared; COMMIT PREPARED: nothing stuck
#  14   alice's open unbind() over 200,000 queued rows: others flow, the
#       4 passes that read past her held rows take under 12 s in all
#   5   a superuser's open SELECT ... FOR UPDATE of a binding row: its rows
#       wait, others flow; after ROLLBACK nothing is lost
#   6   MultiXacts: 30 passes while alice's bind() again is open
#   7   a superuser holds LOCK TABLE webflow.bindings IN EXCLUSIVE MODE:
#       does a drain() still publish a change (a row lock mode the pass
#       did not need before)?
#   8   pass cost with 0 / 2,000 / 10,000 bindings, one fresh row a pass:
#       the claim's duration and the WAL per drain()
#   9   10,000 bindings, a 1,000-row backlog, work_mem = 64kB
#  10   10,000 bindings with 100,000 dead tuples (no vacuum)
#  6b  MultiXacts: 10 passes while alice holds 20 bindings (open bind() again)
#  12  a claim step waiting on Webflow (schema read) holds all bindings:
#       DROP TABLE of an unrelated bound table waits
#  13  10,000 bindings over 10 named connections: claim statements a
#       pass, rows of one connection (a) or of each (b)
#  11  the worker on, 10,000 bindings, 100 single-row commits: WAL written
# The end prints "free-bindings-attack: N attempts, M breaks".
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
my $node = new_node('freeb', 'webflow.worker_enabled' => 'off',
	'webflow.max_attempts' => 100, max_prepared_transactions => 5,
	shared_preload_libraries => "'webflow,auto_explain'",
	'auto_explain.log_level' => 'warning', 'auto_explain.log_analyze' => 'on',
	'auto_explain.log_buffers' => 'on', 'auto_explain.log_wal' => 'on',
	'auto_explain.log_timing' => 'on');
sub sql { return $node->safe_psql('postgres', $_[0]); }
sub try { return psql_try($node, $_[0]); }
sub queued { return sql(q{SELECT count(*) FROM webflow.outbox}); }
sub drain_all { return drain_queue($node, @_); }
sub site_matches { return site_matches_on($node, @_); }
sub no_dups
{
	my @live = @{ live_item_names($_[0]) };
	my %seen;
	$seen{$_}++ for @live;
	my @d = grep { $seen{$_} > 1 } keys %seen;
	return (!@d, scalar(@live) . ' live' . (@d ? '; twice: ' . join('|', @d[0 .. ($#d < 4 ? $#d : 4)]) : ''));
}
sub new_collection { return fake_collection('freeb', @_); }
sub new_table
{
	my ($t) = @_;
	my $c = new_collection($t);
	sql(qq{CREATE TABLE $t (id int PRIMARY KEY, name text NOT NULL); SELECT webflow.bind('$t', '$c');});
	return $c;
}
sub conf
{
	sql(qq{ALTER SYSTEM $_[0]; SELECT pg_reload_conf();});
	sleep(0.5);
}
sub as_alice { return $node->psql('postgres', $_[0], extra_params => [ '-U', 'alice' ]); }

sql(q{CREATE ROLE alice LOGIN; CREATE SCHEMA alice AUTHORIZATION alice;
  GRANT EXECUTE ON FUNCTION webflow.bind(regclass, text, jsonb), webflow.unbind(regclass, text),
    webflow.sync(regclass), webflow.retry(boolean), webflow.drain(integer) TO alice;});
my $OC = new_table('others');
sql(q{INSERT INTO others SELECT i, 'other ' || i FROM generate_series(1, 20) i});
drain_all();

# others_flow(LABEL, SETUP_IN_ALICE_SESSION, RELEASE): alice's session runs
# SETUP and stays open; others' 20 rows change; 4 drain()s; then RELEASE
# (ROLLBACK, COMMIT...) and everything drains.  Returns (others live in
# time, description).
sub others_flow
{
	my ($label, $setup, $release, $rows) = @_;
	my $AC = new_collection("alice$label");
	my ($r, $o, $e) = as_alice(qq{CREATE TABLE alice.p$label (id int PRIMARY KEY, name text NOT NULL);
	  SELECT webflow.bind('alice.p$label', '$AC');
	  INSERT INTO alice.p$label SELECT i, 'alice ' || i FROM generate_series(1, $rows) i;});
	die "alice setup: $e" if $r;
	sql(qq{UPDATE others SET name = 'other ' || id || ' $label'});
	my $q0 = queued();
	my $al = $node->background_psql('postgres', extra_params => [ '-U', 'alice' ], on_error_stop => 0);
	my $setup_out = eval { $al->query(sprintf($setup, "alice.p$label", $AC)) } // "error $@";
	my $n = 0;
	my $t0 = time;
	for (1 .. 4)
	{
		sql('SELECT webflow.drain()');
		$n = scalar grep { / $label$/ } @{ live_item_names($OC) };
		last if $n == 20;
		sleep(0.3);
	}
	my $dt = time - $t0;
	my $q1 = queued();
	if ($release =~ /PREPARED/)
	{
		$al->quit;
		$release .= ' => ' . try($release);
	}
	else
	{
		$al->query($release);
		$al->quit;
	}
	drain_all();
	my ($ok, $d) = site_matches('others', $OC);
	return ($n == 20 && $ok, $AC,
		sprintf("%d of alice's rows queued (queue %s), setup said '%s': others live after 4 drain() in %.1f s: %d of 20 (queue then %s); after '%s': others %s",
			$rows, $q0, substr($setup_out // '', 0, 80), $dt, $n, $q1, $release, $d));
}

# ---- 1. alice's open DROP TABLE of her bound table
{
	my ($ok, $AC, $d) = others_flow('1', q{BEGIN; DROP TABLE %s;}, 'ROLLBACK', 1500);
	my ($ok2, $d2) = drain_all() ? site_matches('alice.p1', $AC) : (0, 'queue not drained');
	attempt($ok && $ok2, "1: alice's open DROP TABLE of her bound table: $d; alice's table after ROLLBACK: $d2");
}

# ---- 2. alice's open unbind() + bind() to another collection (new id)
{
	my $AC2 = new_collection('alice2b');
	my ($ok, $AC, $d) = others_flow('2', qq{BEGIN; SELECT webflow.unbind('%1\$s'); SELECT webflow.bind('%1\$s', '$AC2');},
		'COMMIT', 1500);
	# (bind() does not queue the rows already there: sync() does)
	as_alice(q{SELECT webflow.sync('alice.p2')});
	drain_all();
	my ($ok2, $d2) = site_matches('alice.p2', $AC2);
	my ($ok3, $d3) = no_dups($AC);
	attempt($ok && $ok2 && $ok3,
		"2: alice's open unbind() then bind() to another collection (binding re-created, new id): $d; new collection after COMMIT and sync(): $d2; old collection: $d3");
	as_alice(q{SELECT webflow.unbind('alice.p2')});
}

# ---- 3. alice's open bind() again, same collection
{
	my ($ok, $AC, $d) = others_flow('3', q{BEGIN; SELECT webflow.bind('%s', '%s');}, 'ROLLBACK', 1500);
	my ($ok2, $d2) = drain_all() ? site_matches('alice.p3', $AC) : (0, 'queue not drained');
	attempt($ok && $ok2, "3: alice's open bind() again (same collection: NO KEY UPDATE, not skipped): $d; alice's after ROLLBACK: $d2");
	as_alice(q{SELECT webflow.unbind('alice.p3')});
}

# ---- 4. alice's prepared (2PC) unbind()
{
	my ($ok, $AC, $d) = others_flow('4', q{BEGIN; SELECT webflow.unbind('%s'); PREPARE TRANSACTION 'alice4';},
		q{COMMIT PREPARED 'alice4'}, 1500);
	my $left = sql(q{SELECT count(*) FROM webflow.outbox});
	attempt($ok && $left eq '0', "4: alice's PREPARE TRANSACTION of unbind(): $d; queue left $left");
}

# ---- 14. alice's open unbind() over 200,000 queued rows: others flow,
# and a pass that reads past her held rows stays short
{
	my $t0 = time;
	my ($ok, $AC, $d) = others_flow('14', q{BEGIN; SELECT webflow.unbind('%s');}, 'COMMIT', 200000);
	my ($slow) = $d =~ /in ([0-9.]+) s/;
	my $left = sql(q{SELECT count(*) FROM webflow.outbox});
	attempt($ok && defined $slow && $slow < 12 && $left eq '0',
		sprintf("14: alice's open unbind() over 200,000 rows: %s; queue left %s (%.0f s in all)", $d, $left, time - $t0));
}

# ---- 5. a superuser's open SELECT ... FOR UPDATE of a binding row
{
	my $KC = new_table('keyup');
	sql(q{INSERT INTO keyup SELECT i, 'keyup ' || i FROM generate_series(1, 30) i});
	my $s = $node->background_psql('postgres', on_error_stop => 0);
	$s->query(q{BEGIN; SELECT 1 FROM webflow.bindings WHERE source = 'keyup'::regclass FOR UPDATE;});
	sql(q{UPDATE others SET name = 'other ' || id || ' 5'});
	sql('SELECT webflow.drain()') for 1 .. 2;
	my $n_during = scalar @{ live_item_names($KC) };
	my $o_during = scalar grep { / 5$/ } @{ live_item_names($OC) };
	$s->query('ROLLBACK');
	$s->quit;
	drain_all();
	my ($ok, $d) = site_matches('keyup', $KC);
	my ($ok2, $d2) = site_matches('others', $OC);
	attempt($ok && $ok2 && $o_during == 20,
		"5: superuser's open SELECT FOR UPDATE of a binding row: its rows live during: $n_during (skipped), others during: $o_during of 20; after ROLLBACK: $d; others: $d2");
}

# ---- 6. MultiXacts while alice's bind() again is open
{
	my $AC = new_collection('alice6');
	as_alice(qq{CREATE TABLE alice.p6 (id int PRIMARY KEY, name text NOT NULL);
	  SELECT webflow.bind('alice.p6', '$AC');
	  INSERT INTO alice.p6 SELECT i, 'alice ' || i FROM generate_series(1, 5) i;});
	drain_all();
	my $al = $node->background_psql('postgres', extra_params => [ '-U', 'alice' ], on_error_stop => 0);
	$al->query(qq{BEGIN; SELECT webflow.bind('alice.p6', '$AC');});
	my $m0 = sql(q{SELECT mxid_age(datminmxid) FROM pg_database WHERE datname = current_database()});
	for my $i (1 .. 30)
	{
		sql(qq{UPDATE others SET name = 'other ' || id || ' 6.$i' WHERE id = 1});
		sql('SELECT webflow.drain()');
	}
	my $m1 = sql(q{SELECT mxid_age(datminmxid) FROM pg_database WHERE datname = current_database()});
	$al->query('ROLLBACK');
	$al->quit;
	drain_all();
	attempt($m1 - $m0 <= 5, "6: 30 passes while alice's bind() again is open: MultiXacts made: " . ($m1 - $m0));
	as_alice(q{SELECT webflow.unbind('alice.p6')});
}


# ---- 6b. MultiXacts: alice holds 20 of her bindings (bind() again of 20
# tables in one open transaction) while 10 drain()s run
{
	my @t;
	for my $i (1 .. 20)
	{
		my $c = new_collection("alice6b$i");
		my ($r, $o, $e) = as_alice(qq{CREATE TABLE alice.m$i (id int PRIMARY KEY, name text NOT NULL);
		  SELECT webflow.bind('alice.m$i', '$c'); INSERT INTO alice.m$i VALUES (1, 'm$i');});
		push @t, [ "alice.m$i", $c ];
	}
	drain_all();
	my $al = $node->background_psql('postgres', extra_params => [ '-U', 'alice' ], on_error_stop => 0);
	$al->query('BEGIN; ' . join(' ', map { "SELECT webflow.bind('$_->[0]', '$_->[1]');" } @t));
	my $m0 = sql(q{SELECT mxid_age(datminmxid) FROM pg_database WHERE datname = current_database()});
	for my $i (1 .. 10)
	{
		sql(qq{UPDATE others SET name = 'other ' || id || ' 6b.$i' WHERE id = 1});
		sql('SELECT webflow.drain()');
	}
	my $m1 = sql(q{SELECT mxid_age(datminmxid) FROM pg_database WHERE datname = current_database()});
	my $live = scalar grep { $_ eq 'other 1 6b.10' } @{ live_item_names($OC) };
	$al->query('ROLLBACK');
	$al->quit;
	drain_all();
	attempt($m1 - $m0 <= 5 && $live == 1,
		"6b: 10 drain()s (one other row each) while alice holds 20 of her bindings in an open bind() again: MultiXacts made: " . ($m1 - $m0) . "; others' change live: $live");
	as_alice(join(' ', map { "SELECT webflow.unbind('$_->[0]');" } @t));
}

# ---- 7. a superuser's LOCK TABLE webflow.bindings IN EXCLUSIVE MODE
{
	sql(q{UPDATE others SET name = 'other ' || id || ' 7' WHERE id = 1});
	my $s = $node->background_psql('postgres', on_error_stop => 0);
	$s->query(q{BEGIN; LOCK TABLE webflow.bindings IN EXCLUSIVE MODE;});
	my $t0 = time;
	my $r = try(q{SET statement_timeout = '6s'; SELECT webflow.drain();});
	my $dt = time - $t0;
	my $live = scalar grep { $_ eq 'other 1 7' } @{ live_item_names($OC) };
	$s->query('ROLLBACK');
	$s->quit;
	drain_all();
	attempt($live == 1, sprintf("7: EXCLUSIVE lock on webflow.bindings held open: drain() (6 s timeout) said %s after %.1f s; change live then: %d",
			substr($r, 0, 90), $dt, $live));
}

# ---- 12. a pass whose claim step waits on Webflow (a collection schema
# not cached: read in the claim's transaction) holds every binding row
# FOR KEY SHARE meanwhile: DROP TABLE of another, unrelated bound table
{
	my $SC = new_collection('alice12');
	fake_fault({ match => { method => 'GET', path => "/collections/$SC\$" }, status => 500, count => 20, ttl_ms => 5000 });
	my ($r, $o, $e) = as_alice(qq{CREATE TABLE alice.slow (id int PRIMARY KEY, name text NOT NULL);
	  SELECT webflow.bind('alice.slow', '$SC');});
	fake_clear_faults();
	my $cached = sql(qq{SELECT count(*) FROM webflow.collection_fields WHERE collection_id = '$SC'});
	my $BC = new_table('bobt');
	sql(q{INSERT INTO bobt VALUES (1, 'bob 1')});
	drain_all();
	fake_fault({ match => { method => 'GET', path => "/collections/$SC\$" }, delay_ms => 8000, count => 1 });
	as_alice(q{INSERT INTO alice.slow VALUES (1, 'slow 1')});
	my ($dout, $derr) = ('', '');
	my $h = IPC::Run::start([ 'psql', '-X', '-d', $node->connstr('postgres'), '-c', 'SELECT webflow.drain()' ],
		'>', \$dout, '2>', \$derr);
	sleep(2);
	my $t0 = time;
	my $dr = try(q{SET statement_timeout = '20s'; DROP TABLE bobt;});
	my $dt = time - $t0;
	$h->finish;
	fake_clear_faults();
	drain_all();
	my $slow = scalar @{ live_item_names($SC) };
	attempt($dt < 2,
		sprintf("12: a drain() reading alice's uncached collection schema (8 s) in its claim step (schema cached at bind: %s): superuser's DROP TABLE of an unrelated bound table took %.1f s (%s); alice's row live after: %d",
			$cached, $dt, $dr, $slow));
}

# ---- 8-10. pass cost with many bindings
my $logpos = -s $node->logfile;
sub claim_ms
{
	# the claim statements auto_explain logged since the last call
	my $log = slurp_log_since($node, $logpos);
	$logpos = -s $node->logfile;
	my @ms;
	# (only the claims that claimed rows: the plan's top node says how many)
	our $all_claims_ms = 0;
	while ($log =~ /duration: ([0-9.]+) ms\s+plan:\s*\n\s*Query Text: WITH (?:free_bindings|seen|fresh|open_xids) AS[^\n]*\n[^\n]*actual time=[0-9.]+\.\.[0-9.]+ rows=(\d+)/g)
	{
		push @ms, $1 if $2 > 0;
		$all_claims_ms += $1;
	}
	return @ms;
}
sub median { my @s = sort { $a <=> $b } @_; return @s ? $s[ int($#s / 2) ] : -1; }
sub wal_lsn { return sql(q{SELECT pg_current_wal_lsn()}); }
sub wal_since { return sql(qq{SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$_[0]')}); }
sub add_bindings
{
	my ($n) = @_;
	sql(qq{INSERT INTO webflow.bindings (source, collection_id, key_columns, key_checked)
	  SELECT 'dummy'::regclass, lpad(to_hex(i + 1000000), 24, '0'), '{id}', false
	  FROM generate_series((SELECT count(*) FROM webflow.bindings WHERE source = 'dummy'::regclass) + 1, $n) i;
	  ANALYZE webflow.bindings;});
}
my $PC = new_table('perf');
sql(q{INSERT INTO perf SELECT i, 'perf ' || i FROM generate_series(1, 10) i; CREATE TABLE dummy (id int PRIMARY KEY)});
drain_all();
my %cost;
sub one_row_passes
{
	my ($label) = @_;
	conf(q{SET auto_explain.log_min_duration = 0});
	claim_ms();
	my (@wal, @wall);
	for my $i (1 .. 15)
	{
		sql(qq{UPDATE perf SET name = 'perf ' || id || ' $label.$i' WHERE id = 1 + $i % 10});
		sql('CHECKPOINT') if $i == 1;
		my $l = wal_lsn();
		my $t0 = time;
		sql('SELECT webflow.drain()');
		push @wall, 1000 * (time - $t0);
		push @wal, wal_since($l);
	}
	conf(q{SET auto_explain.log_min_duration = -1});
	my @ms = claim_ms();
	our $all_claims_ms;
	my $per_drain = $all_claims_ms / 15;
	my $walmax = 0;
	$walmax = $_ > $walmax ? $_ : $walmax for @wal;
	$cost{$label} = { claim => median(@ms), wal => median(@wal), wall => median(@wall), n => scalar @ms, per_drain => $per_drain };
	diag(sprintf("cost %s: claim median %.2f ms (%d claims), drain() median %.0f ms, WAL per drain() median %d bytes, max %d (first after a CHECKPOINT); all claim statements %.1f ms a drain()",
			$label, $cost{$label}{claim}, $cost{$label}{n}, $cost{$label}{wall}, $cost{$label}{wal}, $walmax, $per_drain));
}
one_row_passes('b0');
add_bindings(2000);
one_row_passes('b2000');
add_bindings(10000);
one_row_passes('b10000');
my ($ok8, $d8) = site_matches('perf', $PC);
attempt($cost{b0}{n} > 0 && $cost{b10000}{n} > 0 && $cost{b10000}{claim} < $cost{b0}{claim} + 10 && $cost{b10000}{wal} < $cost{b0}{wal} + 65536 && $ok8,
	sprintf("8: one fresh row a pass: claim %.2f / %.2f / %.2f ms and WAL per drain() %d / %d / %d bytes with 0 / 2,000 / 10,000 bindings; site: %s",
		(map { $cost{$_}{claim} } qw(b0 b2000 b10000)), (map { $cost{$_}{wal} } qw(b0 b2000 b10000)), $d8));

# ---- 9. a 1,000-row backlog, 10,000 bindings, work_mem = 64kB
sub backlog_pass
{
	my ($label, $rows) = @_;
	sql(qq{INSERT INTO perf SELECT i, 'perf ' || i || ' $label'
	  FROM generate_series((SELECT max(id) FROM perf) + 1, (SELECT max(id) FROM perf) + $rows) i});
	conf(q{SET auto_explain.log_min_duration = 0});
	claim_ms();
	my $t0 = time;
	drain_all();
	my $wall = 1000 * (time - $t0);
	conf(q{SET auto_explain.log_min_duration = -1});
	my @ms = claim_ms();
	my $max = 0;
	$max = $_ > $max ? $_ : $max for @ms;
	diag(sprintf("cost %s: claims %s ms; drain_all %.0f ms", $label, join(' ', map { sprintf('%.1f', $_) } @ms), $wall));
	return ($max, $wall, scalar @ms);
}
my ($mx9a, $w9a, $n9a) = backlog_pass('9a', 1000);
conf(q{SET work_mem = '64kB'});
my ($mx9b, $w9b, $n9b) = backlog_pass('9b', 1000);
conf(q{RESET work_mem});
my ($ok9, $d9) = site_matches('perf', $PC);
attempt($n9a > 0 && $n9b > 0 && $mx9b < 2 * $mx9a + 20 && $ok9,
	sprintf("9: 1,000-row backlog with 10,000 bindings: slowest claim %.1f ms (work_mem default) vs %.1f ms (work_mem 64kB); site: %s",
		$mx9a, $mx9b, $d9));

# ---- 10. 10,000 bindings, 100,000 dead tuples
sql(q{ALTER TABLE webflow.bindings SET (autovacuum_enabled = false)});
sql(qq{UPDATE webflow.bindings SET last_error = 'x$_' WHERE source = 'dummy'::regclass}) for 1 .. 10;
my $dead = sql(q{SELECT pg_relation_size('webflow.bindings') / 8192});
one_row_passes('dead');
sql(q{ALTER TABLE webflow.bindings RESET (autovacuum_enabled)});
my ($ok10, $d10) = site_matches('perf', $PC);
attempt($cost{dead}{n} > 0 && $cost{dead}{claim} < $cost{b0}{claim} + 10 && $ok10,
	sprintf("10: 10,000 bindings updated 10 times (no vacuum; %s pages): claim median %.2f ms (vs %.2f with none), WAL per drain() %d; site: %s",
		$dead, $cost{dead}{claim}, $cost{b0}{claim}, $cost{dead}{wal}, $d10));


# ---- 13. 10,000 bindings over 10 named connections (claim() runs one
# claim per connection): 13a one fresh row of the default connection a
# pass; 13b one fresh row of each connection a pass (rows queued by hand
# for bindings of connections with no server: they wait, never sent)
{
	sql(q{VACUUM webflow.bindings});
	one_row_passes('b10000v');
	sql(q{UPDATE webflow.bindings SET connection = 'c' || (id % 10) WHERE source = 'dummy'::regclass; VACUUM ANALYZE webflow.bindings});
	one_row_passes('conn');
	my ($ok, $d) = site_matches('perf', $PC);
	attempt($cost{conn}{n} > 0 && $cost{conn}{per_drain} < 2 * $cost{b10000v}{per_drain} + 5 && $ok,
		sprintf("13a: 10,000 bindings over 10 named connections, one fresh row of the default connection a pass: claim statements %.1f ms a drain() (%.1f with the same bindings on one connection, %.1f with none); site: %s",
			$cost{conn}{per_drain}, $cost{b10000v}{per_drain}, $cost{b0}{per_drain}, $d));
	conf(q{SET auto_explain.log_min_duration = 0});
	claim_ms();
	our $all_claims_ms;
	my @per;
	for my $i (1 .. 5)
	{
		sql(q{DELETE FROM webflow.outbox WHERE binding_id IN (SELECT id FROM webflow.bindings WHERE source = 'dummy'::regclass)});
		sql(qq{INSERT INTO webflow.outbox (binding_id, op, row_key, row_image)
		  SELECT min(id), 'upsert', '$i', '{"id": $i}' FROM webflow.bindings WHERE source = 'dummy'::regclass GROUP BY connection;
		  UPDATE perf SET name = 'perf ' || id || ' 13b.$i' WHERE id = 1});
		sql('SELECT webflow.drain()');
		claim_ms();
		push @per, $all_claims_ms;
	}
	conf(q{SET auto_explain.log_min_duration = -1});
	sql(q{DELETE FROM webflow.outbox WHERE binding_id IN (SELECT id FROM webflow.bindings WHERE source = 'dummy'::regclass)});
	my $m = median(@per);
	attempt($m > 0 && $m < 2 * $cost{b10000v}{per_drain} + 5,
		sprintf("13b: 10,000 bindings over 10 named connections, one fresh row of each connection a pass: claim statements %.1f ms a drain() (each: %s; %.1f ms when one connection has rows)",
			$m, join(' ', map { sprintf('%.0f', $_) } @per), $cost{b10000v}{per_drain}));
	sql(q{UPDATE webflow.bindings SET connection = NULL WHERE source = 'dummy'::regclass});
}

# ---- 11. the worker on, 10,000 bindings, a trickle of single-row commits
{
	my $w = new_node('freebw', 'webflow.max_attempts' => 100);
	my $WC = fake_collection('freebw', 'trickle');
	$w->safe_psql('postgres', qq{CREATE TABLE trickle (id int PRIMARY KEY, name text NOT NULL);
	  SELECT webflow.bind('trickle', '$WC'); CREATE TABLE dummy (id int PRIMARY KEY);
	  INSERT INTO webflow.bindings (source, collection_id, key_columns, key_checked)
	  SELECT 'dummy'::regclass, lpad(to_hex(i + 2000000), 24, '0'), '{id}', false
	  FROM generate_series(1, 10000) i; ANALYZE webflow.bindings; CHECKPOINT;});
	my $l = $w->safe_psql('postgres', 'SELECT pg_current_wal_lsn()');
	my $t0 = time;
	for my $i (1 .. 100)
	{
		$w->safe_psql('postgres', "INSERT INTO trickle VALUES ($i, 'trickle $i')");
		sleep(0.1);
	}
	my $done = wait_until(sub { $w->safe_psql('postgres', 'SELECT count(*) FROM webflow.outbox') eq '0' }, 60, 0.2);
	my $dt = time - $t0;
	my $wal = $w->safe_psql('postgres', "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '$l')");
	my $n = scalar @{ fake_pages($WC, live => 1) };
	$w->stop('fast');
	attempt($wal < 10 * 1024 * 1024 && $n == 100,
		sprintf("11: worker on, 10,000 bindings, 100 single-row commits 0.1 s apart: WAL written %.1f MB in %.0f s (%.1f GB an hour at that pace); live %d of 100",
			$wal / 1048576, $dt, $wal / $dt * 3600 / 1073741824, $n));
}

attack_summary('free-bindings-attack');
done_testing();
