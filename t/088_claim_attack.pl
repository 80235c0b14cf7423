# t/088_claim_attack.pl: attacks on the claim and record steps of perf12c
# (drain.c CLAIM_SQL: the oldest fresh rows by id through outbox_fresh, the
# due put-back rows by due time through outbox_due, the put-back rows of the
# same keys through outbox_row; record.c finds claimed rows by binding, key
# and id; outbox_write.c evaluates a per-transaction partial-index predicate
# once per transaction).
#
# Each attempt is one check that a guarantee HOLDS (nothing lost, nothing
# duplicated, nothing stuck, the live site ends showing each row's latest
# committed state); a failing check is a BREAK.  Judged from what a visitor
# sees (fake_pages: every page of live items through the public API) and
# from the outbox's contents.  The worker is off: every pass is a drain().
# The end prints "claim-attack: N attempts, M breaks".  Before the fix in
# record.c (older unclaimed rows of a key whose newer state is done are
# deleted) attempts 3 and 4 and the final check broke: an older state went
# out after the newer one.  Attempts 13-15 (a 401 pause lifted, the drain
# worker killed while its record step waits for a locked row, an immediate
# stop with a change in flight) came after the fix.
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

my ($attempts, $breaks) = (0, 0);
sub attempt
{
	my ($ok, $name) = @_;
	$attempts++;
	$breaks++ unless $ok;
	ok($ok, $name);
}

start_fake();
my $node = new_node('claim_attack', 'webflow.worker_enabled' => 'off',
	'webflow.max_attempts' => 100);
sub sql { return $node->safe_psql('postgres', $_[0]); }
$node->safe_psql('postgres', 'CREATE EXTENSION amcheck');

# drain_all(TRIES): drain() until the outbox is empty (failed rows aside),
# at most TRIES passes, sleeping a little when nothing was due; returns
# whether no pending or sending row is left
sub drain_all
{
	my ($tries) = @_;
	for (1 .. ($tries // 60))
	{
		my $left = sql(q{SELECT count(*) FROM webflow.outbox WHERE state <> 'failed'});
		return 1 if $left eq '0';
		my $n = sql('SELECT webflow.drain()');
		sleep(0.5) if $n eq '0';
	}
	return sql(q{SELECT count(*) FROM webflow.outbox WHERE state <> 'failed'}) eq '0';
}

# site_matches(TABLE, COLLECTION, IDS): as many live items as rows, and
# the live items' names, as a visitor lists them, hold the current name of
# each row of IDS (all rows when IDS is undef) exactly once
sub site_matches
{
	my ($table, $coll, $ids) = @_;
	my @live = map { $_->{fieldData}{name} // '' } @{ fake_pages($coll, live => 1) };
	my $cond = $ids ? 'WHERE id IN (' . join(',', @$ids) . ')' : '';
	my @want = split /\|/, sql(qq{SELECT coalesce(string_agg(name, '|'), '') FROM $table $cond});
	my $rows = sql(qq{SELECT count(*) FROM $table});
	my %seen;
	$seen{$_}++ for @live;
	my @bad = grep { ($seen{$_} // 0) != 1 } @want;
	my $ok = !@bad && scalar(@live) == $rows;
	diag('live ' . scalar(@live) . " of $rows rows; not live once: " . join('|', @bad)) unless $ok;
	return $ok;
}

sub amcheck_ok
{
	my $bad = sql(q{SELECT count(*) FROM (SELECT bt_index_check(indexrelid, true)
	                 FROM pg_index WHERE indrelid = 'webflow.outbox'::regclass) s});
	my $n = sql(q{SELECT count(*) FROM pg_index WHERE indrelid = 'webflow.outbox'::regclass});
	return $bad eq $n;
}

# every pending row is in exactly one of outbox_fresh and outbox_due, every
# other row in outbox_row: counted through the indexes and by a scan
sub indexes_cover
{
	my ($db) = @_;
	local *sql = sub { return $node->safe_psql($db // 'postgres', $_[0]); };
	my $scan = sql(q{SET enable_indexscan = off; SET enable_bitmapscan = off;
	  SELECT count(*) FILTER (WHERE state = 'pending' AND next_attempt_at = enqueued_at) || ',' ||
	         count(*) FILTER (WHERE state = 'pending' AND next_attempt_at <> enqueued_at) || ',' ||
	         count(*) FILTER (WHERE state <> 'pending' OR next_attempt_at <> enqueued_at)
	  FROM webflow.outbox});
	my $ix = sql(q{SET enable_seqscan = off;
	  SELECT (SELECT count(*) FROM webflow.outbox WHERE state = 'pending' AND next_attempt_at = enqueued_at) || ',' ||
	         (SELECT count(*) FROM webflow.outbox WHERE state = 'pending' AND next_attempt_at <> enqueued_at) || ',' ||
	         (SELECT count(*) FROM webflow.outbox WHERE state <> 'pending' OR next_attempt_at <> enqueued_at)});
	diag("scan $scan, indexes $ix") if $scan ne $ix;
	return $scan eq $ix;
}

# a drain() in the background: returns the harness
sub drain_bg
{
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ 'psql', '-X', '-qAt', '-d', $node->connstr('postgres'), '-c', 'SELECT webflow.drain()' ],
		'>', \$out, '2>', \$err);
	return $h;
}

sql(qq{
CREATE TABLE jobs (id int PRIMARY KEY, name text NOT NULL);
SELECT webflow.bind('jobs', '$JOBS');
INSERT INTO jobs SELECT i, 'job ' || i FROM generate_series(1, 20) i;
});
drain_all();
attempt(site_matches('jobs', $JOBS), 'baseline: 20 rows are live');

# ---- 1. a row put back (5xx) then changed several times, with a fresh
# backlog of other keys and passes cut short (drain(3))
fake_fault({ match => { kind => 'patch_live' }, status => 503, count => 1 });
sql(q{UPDATE jobs SET name = 'one b' WHERE id = 1});
sql('SELECT webflow.drain()');
my $pb = sql(q{SELECT state || ':' || attempts || ':' || (next_attempt_at > now()) FROM webflow.outbox});
for my $v ('c', 'd', 'e')
{
	sql(qq{UPDATE jobs SET name = name || '+' WHERE id BETWEEN 5 AND 12});
	sql(qq{UPDATE jobs SET name = 'one $v' WHERE id = 1});
	sql(q{SELECT webflow.drain(3)});
}
drain_all();
attempt(site_matches('jobs', $JOBS, [1, 5 .. 12]),
	"a row put back ($pb) then changed three times among a fresh backlog, passes of 3 rows: the site shows the latest");

# ---- 2. a row put back and not due (backoff) is overtaken by a newer
# change of its key: sent once with the newest state, nothing stuck
fake_fault({ match => { kind => 'patch_live' }, status => 500, count => 1 });
sql(q{UPDATE jobs SET name = 'two old' WHERE id = 2});
sql('SELECT webflow.drain()');
sql(q{UPDATE webflow.outbox SET next_attempt_at = now() + interval '1 hour' WHERE state = 'pending'});
sql(q{UPDATE jobs SET name = 'two new' WHERE id = 2});
my $seq = fake_log_seq();
sql('SELECT webflow.drain()');
my $left = sql(q{SELECT count(*) FROM webflow.outbox});
attempt($left eq '0' && site_matches('jobs', $JOBS, [2]),
	"a put-back row an hour from due is folded into its key's newer change (outbox left: $left)");

# ---- 3. retry() during the send of a newer change of a failed row's key:
# the older failed state must not go out after the newer one
fake_fault({ match => { kind => 'patch_live' }, status => 400, count => 1 });
sql(q{UPDATE jobs SET name = 'three old' WHERE id = 3});
sql('SELECT webflow.drain()');
my $failed = sql(q{SELECT count(*) FROM webflow.outbox WHERE state = 'failed'});
sql(q{UPDATE jobs SET name = 'three new' WHERE id = 3});
fake_fault({ match => { kind => 'patch_live' }, delay_ms => 2500, process => JSON::PP::true, count => 1 });
my $h = drain_bg();
wait_until(sub { sql(q{SELECT count(*) FROM webflow.outbox WHERE state = 'sending'}) ne '0' }, 10, 0.05);
sql('SELECT webflow.retry()');
$h->finish;
drain_all();
attempt($failed eq '1' && site_matches('jobs', $JOBS, [3]),
	"retry() while a newer change of a failed row's key is in flight: the site shows the newer state");

# ---- 4. retry(false) while a newer change is claimed: same
fake_fault({ match => { kind => 'patch_live' }, status => 500, count => 1 });
sql(q{UPDATE jobs SET name = 'four old' WHERE id = 4});
sql('SELECT webflow.drain()');
sql(q{UPDATE webflow.outbox SET next_attempt_at = now() + interval '1 hour' WHERE state = 'pending'});
# a session holds the put-back row's lock (as retry(false) does while it runs)
my $lock = $node->background_psql('postgres');
$lock->query_safe(q{BEGIN; SELECT webflow.retry(false)});
sql(q{UPDATE jobs SET name = 'four new' WHERE id = 4});
$h = drain_bg();
wait_until(sub { sql(q{SELECT count(*) FROM webflow.outbox WHERE row_key = '4' AND state = 'sending'}) ne '0' }, 10, 0.05);
sleep(1);
$lock->query_safe('COMMIT');
$lock->quit;
$h->finish;
drain_all();
attempt(site_matches('jobs', $JOBS, [4]),
	'retry(false) holding a put-back row while its newer change is sent: the site shows the newer state');

# ---- 5. the drain's worker killed between claim and record, then the row
# changed twice more: no duplicate, the latest state
fake_fault({ match => { kind => 'patch_live' }, delay_ms => 4000, process => JSON::PP::true, count => 1 });
sql(q{UPDATE jobs SET name = 'five a' WHERE id = 6});
$h = drain_bg();
wait_until(sub { sql(q{SELECT count(*) FROM webflow.outbox WHERE state = 'sending'}) ne '0' }, 10, 0.05);
sql(q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'webflow drain'});
$h->finish;
sql(q{UPDATE jobs SET name = 'five b' WHERE id = 6});
sql(q{UPDATE jobs SET name = 'five c' WHERE id = 6});
sleep(4);
drain_all();
attempt(site_matches('jobs', $JOBS, [6]),
	'a drain worker killed between claim and record, the row changed twice: the latest state once');

# ---- 6. failed rows then newer changes: the failed ones go when the newer is sent
fake_fault({ match => { kind => 'patch_live' }, status => 400, count => 2 });
sql(q{UPDATE jobs SET name = 'seven bad' WHERE id = 7});
sql('SELECT webflow.drain()');
sql(q{UPDATE jobs SET name = 'seven bad 2' WHERE id = 7});
sql('SELECT webflow.drain()');
sql(q{UPDATE jobs SET name = 'seven good' WHERE id = 7});
drain_all();
my $f7 = sql(q{SELECT count(*) FROM webflow.outbox});
attempt($f7 eq '0' && site_matches('jobs', $JOBS, [7]),
	"failed rows then a newer change: sent, the failed rows gone (outbox: $f7)");

# ---- 7. no-op update, key change, savepoints
sql(q{UPDATE jobs SET name = name WHERE id = 8});
my $noop = sql(q{SELECT count(*) FROM webflow.outbox});
sql(q{BEGIN; UPDATE jobs SET name = 'nine rolled' WHERE id = 9; SAVEPOINT s;
      UPDATE jobs SET id = 109 WHERE id = 9; ROLLBACK TO s; UPDATE jobs SET id = 209 WHERE id = 9; COMMIT;});
my $q7 = sql(q{SELECT string_agg(op || ':' || row_key, ',' ORDER BY id) FROM webflow.outbox});
drain_all();
attempt($noop eq '0' && $q7 eq 'upsert:9,delete:9,upsert:209' && site_matches('jobs', $JOBS, [8, 209]),
	"no-op update queues nothing ($noop), key change in a savepoint = delete + create ($q7)");

# ---- 8. per-transaction predicate cache: indexes made, dropped and
# rolled back inside one writing transaction, and across transactions
sql(q{BEGIN;
  UPDATE jobs SET name = name || '.' WHERE id = 10;
  CREATE INDEX outbox_a1 ON webflow.outbox (id) WHERE attempts = 0;
  UPDATE jobs SET name = name || '.' WHERE id = 11;
  SAVEPOINT s;
  DROP INDEX webflow.outbox_a1;
  CREATE INDEX outbox_a1 ON webflow.outbox (id) WHERE attempts = 1;
  UPDATE jobs SET name = name || '.' WHERE id = 12;
  ROLLBACK TO s;
  UPDATE jobs SET name = name || '.' WHERE id = 13;
  CREATE INDEX outbox_a2 ON webflow.outbox (id) WHERE enqueued_at < next_attempt_at;
  UPDATE jobs SET name = name || '.' WHERE id = 14;
COMMIT;});
sql(q{UPDATE jobs SET name = name || '.' WHERE id = 15});
my $a1 = sql(q{SET enable_seqscan = off; SELECT count(*) FROM webflow.outbox WHERE attempts = 0});
my $a1s = sql(q{SELECT count(*) FROM webflow.outbox WHERE attempts = 0});
my $a2 = sql(q{SET enable_seqscan = off; SELECT count(*) FROM webflow.outbox WHERE enqueued_at < next_attempt_at});
attempt($a1 eq $a1s && $a2 eq '0' && amcheck_ok() && indexes_cover(),
	"indexes made, dropped and rolled back mid-transaction: entries as a scan says ($a1 / $a1s, $a2)");
sql(q{DROP INDEX webflow.outbox_a1; DROP INDEX webflow.outbox_a2});
drain_all();

# ---- 9. a backlog: 100k put-back rows not due and fresh rows; the claim
# stays fast, the put-back row of a key with a fresh change goes with it
sql(q{INSERT INTO webflow.outbox (binding_id, op, row_key, row_image, enqueued_at, next_attempt_at, attempts)
  SELECT b.id, 'upsert', 'ghost' || i, NULL, now() - interval '1 hour', now() + interval '1 hour', 1
  FROM webflow.bindings b, generate_series(1, 100000) i WHERE b.source = 'jobs'::regclass;
  ANALYZE webflow.outbox;});
sql(q{INSERT INTO webflow.outbox (binding_id, op, row_key, row_image, enqueued_at, next_attempt_at, attempts)
  SELECT b.id, 'upsert', '16', to_jsonb(j), now() - interval '1 hour', now() + interval '1 hour', 1
  FROM webflow.bindings b, jobs j WHERE b.source = 'jobs'::regclass AND j.id = 16});
sql(q{UPDATE jobs SET name = name || ' backlog' WHERE id BETWEEN 14 AND 20});
my $t0 = time;
my $n9 = sql('SELECT webflow.drain()');
my $dt = time - $t0;
my $left16 = sql(q{SELECT count(*) FROM webflow.outbox WHERE row_key = '16'});
attempt($dt < 5 && $left16 eq '0' && site_matches('jobs', $JOBS, [14 .. 20]),
	sprintf('100k put-back rows not due: a pass takes %.2f s, the put-back row of key 16 went with its fresh change (%s left)', $dt, $left16));
sql(q{DELETE FROM webflow.outbox WHERE row_key LIKE 'ghost%'});

# ---- 10. a publication FOR ALL TABLES: the worker's updates and deletes
sql(q{CREATE PUBLICATION everything FOR ALL TABLES});
fake_fault({ match => { kind => 'patch_live' }, status => 503, count => 1 });
sql(q{UPDATE jobs SET name = 'seventeen' WHERE id = 17});
my ($rc, $o10, $e10) = $node->psql('postgres', 'SELECT webflow.drain()');
drain_all();
attempt($rc == 0 && site_matches('jobs', $JOBS, [17]), "a publication FOR ALL TABLES: put back and sent ($e10)");
sql(q{DROP PUBLICATION everything});

# ---- 11. pg_dump / restore of queued rows of every kind
fake_fault({ match => { kind => 'patch_live' }, status => 400, count => 1 });
sql(q{UPDATE jobs SET name = 'eighteen bad' WHERE id = 18});
sql('SELECT webflow.drain()');
fake_fault({ match => { kind => 'patch_live' }, status => 503, count => 1 });
sql(q{UPDATE jobs SET name = 'nineteen later' WHERE id = 19});
sql('SELECT webflow.drain()');
sql(q{UPDATE jobs SET name = 'twenty fresh' WHERE id = 20});
my $before = sql(q{SELECT string_agg(id || ':' || state || ':' || (next_attempt_at = enqueued_at), ',' ORDER BY id) FROM webflow.outbox});
my $dump = PostgreSQL::Test::Utils::tempdir() . '/d.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('postgres') ], 'pg_dump');
sql('CREATE DATABASE restored');
$node->command_ok([ 'pg_restore', '-d', $node->connstr('restored'), $dump ], 'pg_restore');
my $after = $node->safe_psql('restored', q{SELECT string_agg(id || ':' || state || ':' || (next_attempt_at = enqueued_at), ',' ORDER BY id) FROM webflow.outbox});
my $ix_after = $node->safe_psql('restored', q{SET enable_seqscan = off;
  SELECT (SELECT count(*) FROM webflow.outbox WHERE state = 'pending' AND next_attempt_at = enqueued_at) + (SELECT count(*) FROM webflow.outbox WHERE state <> 'pending' OR next_attempt_at <> enqueued_at)});
my $nextid = $node->safe_psql('restored', q{SELECT nextval('webflow.outbox_id_seq') > (SELECT max(id) FROM webflow.outbox)});
attempt($before eq $after && $ix_after == scalar(split /,/, $before) && $nextid eq 't',
	"pg_dump/restore keeps queued rows, their kind and index entries ($before -> $after)");
# ---- 13. a 401 pauses the queue with a change put back; the row changes
# again; a superuser's retry() lifts the pause
fake_fault({ match => { kind => 'patch_live' }, status => 401, count => 1 });
sql(q{UPDATE jobs SET name = 'ten paused' WHERE id = 10});
sql('SELECT webflow.drain()');
my $paused = sql(q{SELECT count(*) FROM webflow.outbox WHERE row_key = '10' AND state = 'pending' AND next_attempt_at <> enqueued_at});
sql(q{UPDATE jobs SET name = 'ten after pause' WHERE id = 10});
sql(q{UPDATE jobs SET name = 'eleven during pause' WHERE id = 11});
sql('SELECT webflow.retry()');
drain_all();
attempt($paused eq '1' && site_matches('jobs', $JOBS, [10, 11]),
	"a change put back by a 401 pause, changed again, the pause lifted by retry(): the latest state ($paused put back)");

# ---- 14. the drain's worker killed while its record step waits for a row
# that retry(false) holds: nothing lost, the latest state
fake_fault({ match => { kind => 'patch_live' }, status => 500, count => 1 });
sql(q{UPDATE jobs SET name = 'twelve old' WHERE id = 12});
sql('SELECT webflow.drain()');
sql(q{UPDATE webflow.outbox SET next_attempt_at = now() + interval '1 hour' WHERE row_key = '12' AND state = 'pending'});
$lock = $node->background_psql('postgres');
$lock->query_safe(q{BEGIN; SELECT webflow.retry(false)});
sql(q{UPDATE jobs SET name = 'twelve new' WHERE id = 12});
$h = drain_bg();
my $waiting = wait_until(sub { sql(q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'webflow drain' AND wait_event_type = 'Lock'}) ne '0' }, 10, 0.05);
sql(q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'webflow drain'});
$h->finish;
$lock->query_safe('COMMIT');
$lock->quit;
sql(q{UPDATE jobs SET name = 'twelve newest' WHERE id = 12});
drain_all();
attempt(site_matches('jobs', $JOBS, [12]) && sql(q{SELECT count(*) FROM webflow.outbox}) eq '0',
	'the drain worker killed while its record step waited for a locked older row (' . ($waiting ? 'it waited' : 'no wait seen') . '): the latest state once');

# ---- 15. an immediate stop while a change is in flight, with a put-back
# row and a fresh one of the same key behind it
fake_fault({ match => { kind => 'patch_live' }, status => 503, count => 1 });
sql(q{UPDATE jobs SET name = 'thirteen a' WHERE id = 13});
sql('SELECT webflow.drain()');
sql(q{UPDATE jobs SET name = 'thirteen b' WHERE id = 13});
fake_fault({ match => { kind => 'patch_live' }, delay_ms => 3000, process => JSON::PP::true, count => 1 });
$h = drain_bg();
wait_until(sub { sql(q{SELECT count(*) FROM webflow.outbox WHERE state = 'sending'}) ne '0' }, 10, 0.05);
$node->stop('immediate');
$h->finish;
$node->start;
sql(q{UPDATE jobs SET name = 'thirteen c' WHERE id = 13});
sleep(3);
drain_all();
attempt(site_matches('jobs', $JOBS, [13]) && amcheck_ok() && indexes_cover(),
	'an immediate stop between claim and record, then a newer change: the latest state once, indexes consistent');

# ---- 12. ALTER EXTENSION UPDATE from 1.0 with rows pending (fresh and put
# back, due and not), sending and failed: every row kept, in the right index
sql('CREATE DATABASE up');
$node->safe_psql('up', q{CREATE EXTENSION webflow VERSION '1.0';
  INSERT INTO webflow.outbox (binding_id, op, row_key, row_image)
    SELECT 1, 'upsert', i::text, jsonb_build_object('id', i) FROM generate_series(1, 8) i;
  UPDATE webflow.outbox SET state = 'failed', attempts = 5 WHERE row_key = '1';
  UPDATE webflow.outbox SET state = 'sending', claimed_at = now() WHERE row_key = '2';
  UPDATE webflow.outbox SET attempts = 1, next_attempt_at = now() + interval '1 hour' WHERE row_key = '3';
  UPDATE webflow.outbox SET attempts = 1, next_attempt_at = now() - interval '1 minute' WHERE row_key = '4';
  INSERT INTO webflow.items (collection_id, source_key, item_id) VALUES ('580e63fc8c9a982ac9b8b7ff', '5', '680e63fc8c9a982ac9b8b7ff');});
my $up_before = $node->safe_psql('up', q{SELECT string_agg(id || ':' || state || ':' || next_attempt_at, ',' ORDER BY id) FROM webflow.outbox});
$node->safe_psql('up', 'ALTER EXTENSION webflow UPDATE');
my $up_after = $node->safe_psql('up', q{SELECT string_agg(id || ':' || state || ':' || next_attempt_at, ',' ORDER BY id) FROM webflow.outbox});
my $up_items = $node->safe_psql('up', q{SELECT count(*) FROM webflow.items});
my $up_due = $node->safe_psql('up', q{SET enable_seqscan = off; SELECT string_agg(row_key, ',' ORDER BY row_key) FROM webflow.outbox
  WHERE state = 'pending' AND next_attempt_at <> enqueued_at AND next_attempt_at <= now()});
attempt($up_before eq $up_after && $up_items eq '1' && indexes_cover('up') && ($up_due // '') eq '4',
	"the update from 1.0 keeps queued rows and the item map, each in its index (due put-back rows: " . ($up_due // '') . ')');

sql('SELECT webflow.retry()');
drain_all();
attempt(site_matches('jobs', $JOBS), 'after retry() every row is live with its latest state');

diag("claim-attack: $attempts attempts, $breaks breaks");
done_testing();
