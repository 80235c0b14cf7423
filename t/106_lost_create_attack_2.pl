# t/106_lost_create_attack_2.pl: a second tester's attacks on "nothing
# diverges, nothing duplicated, nothing stuck" through the recovery of a
# create whose answer was lost, after commit 704e822 (only the newest
# claimed row of a key is marked maybe sent, by record.c record_staying
# and by drain.c RECOVER_SENDING_SQL; a lost create is looked for only
# under the slugs and names of states that were sent).  t/105 tried 29
# sequences; these go beyond them: claims that take only some rows of a
# key (rows another transaction holds), sync()-queued rows, lost deletes
# and updates of found items, a pass killed mid-PATCH, drain(1), packed
# rows, TRUNCATE with held rows.
#
# Outcomes (branch atk27 from main bf750a6; the same in every run; the
# suite runs about 60 s, 40 s of it the two rows that never settle;
# 20 attempts, 10 break).  Since then (main): 1, 2, 12, 18, 19 and 20 are
# fixed and hold: a key an open transaction holds an older row of is not
# claimed at all (drain.c CLAIM_SQL, blocked); a lookup that fails marks
# nothing (adopt.c webflow_resolve_unknown); sync() marks maybe sent only
# rows whose item is mapped.  The setup checks of 18 and 20, which counted
# the never sent state as maybe sent, now count the state sent.  13-16
# (a superuser's own row locks on webflow.outbox rows; no other role may
# lock them) still break and are on branch atk27 only; the README says so.
# The suite now runs about 35 s.
#
#   1  BROKE   lost create 'Held Old', row renamed 'Held New', a session
#              holds BEGIN; SELECT webflow.retry(false) open over the pass:
#              the claim's same_key read (FOR UPDATE SKIP LOCKED) skips
#              the put-back maybe-sent row, so the change is the fresh row
#              alone (maybe_sent false, no candidate): a plain create.
#              Visitor: Held Old, Held New; table: Held New; queue empty
#              (drain.c CLAIM_SQL same_key / claim_rows / plan_change)
#   2  BROKE   the same with retry() (failed only) open over the failed,
#              maybe-sent rows of a lost create (then '!!!', then 'Fail
#              Fixed'): Fail Old stays live with no row
#   3  holds   retry() open over the failed maybe-sent rows, TRUNCATE
#   4  holds   scan: five rows rotate names after a lost create, sync()
#              before any pass (sync queues maybe-sent states never sent)
#   5  holds   lost create, renamed, another row takes the old name,
#              sync(), the first row deleted
#   6  holds   row 2's lost create, renamed; row 1 (never sent) takes its
#              old name; sync(); row 2 deleted
#   7  holds   lost create found by slug, the pass killed while the PATCH
#              (new slug) is in flight, another row takes the old name,
#              the row deleted
#   8  holds   lost create, deleted, the delete of the found item lost
#              after processing, re-inserted under the old name
#   9  holds   the same, delete lost before processing, re-inserted under
#              another name, another row takes the old one
#  10  holds   lost create, renamed, the update of the found item lost,
#              renamed back, another row takes the middle name
#  11  holds   drain(1): five lost creates rotate names, one change a pass
#  12  BROKE   as 1 with 600 packed rows and one UPDATE renaming all: the
#              100 lost items (Pk 1...) stay live beside the 600 new ones
#              (700 live for 600 rows)
#  13  BREAKS  a dead pass (terminated mid-create) left row 1's older,
#              never-sent state ('Hs Pea') and its newer one ('Hs Queue')
#              sending; a superuser's session holds the older row (SELECT
#              ... FOR KEY SHARE) over the next pass: RECOVER_SENDING_SQL
#              (SKIP LOCKED) puts back only the newer one, which settles;
#              once the lock goes, the older row is put back alone, and as
#              no newer row of its key is "sending" any more it is marked
#              maybe sent and claimed alone: the old state 'Hs Pea' is
#              sent to row 1's item (slug taken by row 2's item): row 1
#              stays queued for ever (drain.c RECOVER_SENDING_SQL: "newest
#              sending row" is not "the state the pass sent")
#  14  BREAKS  the same without row 2: the old state goes out.  Visitor:
#              'Ht Pea'; table: 'Ht Queue'; queue empty
#  15  BREAKS  no fault at all: the superuser's session holds the older
#              row while the pass that creates the newer state records it:
#              record.c done_rows (SKIP LOCKED) deletes the newer row and
#              leaves the older one "sending" (superseded reads only rows
#              not sending); the next pass puts it back maybe sent and
#              sends it.  Visitor: 'Rs Pea'; table: 'Rs Queue'
#  16  BREAKS  as 15, the create's answer lost (timeout), row 2 has row 1's
#              older name: record.c requeue skips the held older row, the
#              put-back later marks it maybe sent, row 1 takes row 2's item
#              under the never-sent slug (as t/105 attempt 3 before the
#              fix).  Visitor: Rt Queue, Rt Pea, Rt Pea; row 1 stuck
#  17  holds   retry(false) open over the lost create's put-back row while
#              the row's delete is claimed (the delete is held, then finds
#              the item)
#  18  BROKE   network faults only, no Designer, no lock: row 1 'Lk Pea'
#              lost its create; rows 2-5 lost theirs in a later pass (their
#              items newer); one UPDATE: row 1 -> 'Lk Queue' (row 2's
#              name), row 2 -> 'Lk Bee'; the next pass's reads all fail
#              (GET .../items 503): adopt.c webflow_resolve_unknown settles
#              the unresolved changes WAIT with unknown = true, and
#              record.c record_staying marks their newest rows maybe sent
#              (v[7] = unknown_outcome) although that pass sent nothing:
#              row 1's never-sent 'Lk Queue' becomes a candidate slug.
#              The scan (newest first) meets row 2's item lk-queue before
#              row 1's and gives it to row 1 (match_page has_candidate);
#              row 2 finds nothing (its names are Lk Queue and Lk Bee) and
#              creates 'Lk Bee'.  Visitor: Lk Pea, Lk Queue, Lk 3, Lk 4,
#              Lk 5, Lk Bee; table: 5 rows without Lk Pea; queue empty
#  19  BROKE   the same one by one (two rows; row 1's lost item reslugged in
#              the Designer so that its first slug finds nothing):
#              lookup_candidates gives row 1 row 2's item under the
#              never-sent slug lo-queue.  'Lo Pea' stays live, no row
#  20  BROKE   as 18 with no fault but the two lost creates: SELECT
#              webflow.sync('w3') instead of the failed reads.  _sync
#              (webflow--1.0--1.1.sql) queues every row with no item
#              ('missing') as an upsert of its state now with maybe_sent =
#              true, a state never sent: row 1's 'Sk Queue' is a candidate,
#              row 1 takes row 2's item.  Visitor: Sk Pea stays live with
#              no row (6 live for 5 rows); queue empty
#
# Each attempt is one subtest "attempt N: ..." that passes when the
# guarantee holds: once the queue has drained (no pending, sending or
# failed row), every row of the table is live exactly once under its name
# and nothing else is live (all pages of List Live Items).  The worker is
# off: every pass is a drain().  Sessions that hold rows are
# background_psql sessions, committed once the pass is over.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use JSON::PP;
use IPC::Run;
use FindBin;
use lib $FindBin::RealBin;
use WebflowTest;
use LostCreateAttack;

my $t_start = time;
my $T = JSON::PP::true;
my $node = lca_start('lost_create_attack_2', 'lcb', 'LCB', 'T106_ONLY');

# ---------------------------------------------------------------------------
sub out_rows
{
	my ($t, $cond) = @_;
	return sql(qq{SELECT count(*) FROM webflow.outbox o JOIN webflow.bindings b ON b.id = o.binding_id
	              WHERE b.source = '$t'::regclass} . ($cond ? " AND $cond" : ''));
}

# a retry(false) left open holds the put-back row of a lost create (its
# lock: the claim's same_key read skips it), and the row's newer state is
# claimed alone: not maybe sent, no candidate, so it is simply created
attempt('retry(false) left open holds the lost create\'s put-back row while the renamed row is claimed', sub {
	my $c = coll();
	table('r1', $c);
	lose($c);
	sql(q{INSERT INTO r1 VALUES (1, 'Held Old', 'a')});
	drain_pass();
	is(scalar @{ fake_items($c) }, 1, 'setup: Webflow made the item (answer lost)');
	is(out_rows('r1', 'maybe_sent'), '1', 'setup: its row is put back, maybe sent');
	# (not due yet: the claim reads it only through same_key)
	sql(q{UPDATE webflow.outbox SET next_attempt_at = now() + interval '1 hour' WHERE state = 'pending' AND maybe_sent});
	sql(q{UPDATE r1 SET name = 'Held New' WHERE id = 1});
	my $lock = $node->background_psql('postgres');
	$lock->query_safe(q{BEGIN; SELECT webflow.retry(false)});
	drain_pass();
	$lock->query_safe('COMMIT');
	$lock->quit;
	verdict('r1', $c);
});

attempt('retry() left open holds the failed maybe-sent rows (lost create, then a name with no slug) while the fixed row is claimed', sub {
	my $c = coll();
	table('r2', $c);
	lose($c);
	sql(q{INSERT INTO r2 VALUES (1, 'Fail Old', 'a'), (2, 'Fail Other', 'b')});
	drain_pass();
	is(scalar @{ fake_items($c) }, 2, 'setup: Webflow made the items');
	sql(q{UPDATE r2 SET name = '!!!' WHERE id = 1});
	sql('SELECT webflow.retry(false)');
	drain_pass();
	is(out_rows('r2', q{o.state = 'failed' AND o.maybe_sent}), '1', 'setup: row 1 failed, its lost create\'s row failed and maybe sent');
	sql(q{UPDATE r2 SET name = 'Fail Fixed' WHERE id = 1});
	my $lock = $node->background_psql('postgres');
	$lock->query_safe(q{BEGIN; SELECT webflow.retry()});
	drain_pass();
	$lock->query_safe('COMMIT');
	$lock->quit;
	verdict('r2', $c);
});

attempt('retry() left open holds the failed maybe-sent rows while the table is truncated and a pass runs', sub {
	my $c = coll();
	table('r3', $c);
	lose($c);
	sql(q{INSERT INTO r3 VALUES (1, 'Trunc Held', 'a'), (2, 'Trunc Held Other', 'b')});
	drain_pass();
	sql(q{UPDATE r3 SET name = '!!!' WHERE id = 1});
	sql('SELECT webflow.retry(false)');
	drain_pass();
	is(out_rows('r3', q{o.state = 'failed' AND o.maybe_sent}), '1', 'setup: row 1 failed and maybe sent');
	my $lock = $node->background_psql('postgres');
	$lock->query_safe(q{BEGIN; SELECT webflow.retry()});
	sql(q{TRUNCATE r3});
	drain_pass();
	$lock->query_safe('COMMIT');
	$lock->quit;
	verdict('r3', $c);
});

# sync() queues the rows with no item as maybe sent, with their state now
# (never sent): candidates that are no state sent
attempt('scan: five rows rotate names after their lost create, then sync() before any pass', sub {
	my $c = coll();
	table('s1', $c);
	lose($c);
	sql(q{INSERT INTO s1 SELECT i, 'Sy ' || i, 'd' FROM generate_series(1, 5) i});
	drain_pass();
	is(scalar @{ fake_items($c) }, 5, 'setup: Webflow made the items');
	sql(q{UPDATE s1 SET name = 'Sy ' || (id % 5 + 1)});
	sql(q{SELECT webflow.sync('s1')});
	verdict('s1', $c);
});

attempt('a lost create, renamed, another row takes the old name, sync() before any pass, the first row then deleted', sub {
	my $c = coll();
	table('s2', $c);
	lose($c);
	sql(q{INSERT INTO s2 VALUES (1, 'Sync Pea', 'a')});
	drain_pass();
	ok(item_by($c, 'name', 'Sync Pea'), 'setup: the item was made');
	sql(q{UPDATE s2 SET name = 'Sync Queue' WHERE id = 1; INSERT INTO s2 VALUES (2, 'Sync Pea', 'b')});
	sql(q{SELECT webflow.sync('s2')});
	sql(q{DELETE FROM s2 WHERE id = 1});
	verdict('s2', $c);
});

attempt('two rows: row 2 lost its create, renamed; row 1 (never sent) takes row 2\'s old name; sync(); then row 2 deleted', sub {
	my $c = coll();
	table('s3', $c);
	lose($c);
	sql(q{INSERT INTO s3 VALUES (2, 'Sync Two', 'b')});
	drain_pass();
	ok(item_by($c, 'name', 'Sync Two'), 'setup: row 2\'s item was made');
	sql(q{UPDATE s3 SET name = 'Sync Two Moved' WHERE id = 2; INSERT INTO s3 VALUES (1, 'Sync Two', 'a')});
	sql(q{SELECT webflow.sync('s3')});
	sql(q{DELETE FROM s3 WHERE id = 2});
	verdict('s3', $c);
});

# a pass killed while the PATCH of a found item (its lost create found by
# its slug) is in flight: the item now has the new slug, nothing mapped
attempt('lost create, renamed, the pass that found the item killed while its PATCH (new slug) is in flight, then the row deleted', sub {
	my $c = coll();
	table('k1', $c);
	lose($c);
	sql(q{INSERT INTO k1 VALUES (1, 'Kp Old', 'a')});
	drain_pass();
	ok(item_by($c, 'name', 'Kp Old'), 'setup: the item was made');
	sql(q{UPDATE k1 SET name = 'Kp New' WHERE id = 1; INSERT INTO k1 VALUES (2, 'Kp Old', 'b')});
	sql('SELECT webflow.retry(false)');
	fake_fault({ match => { method => 'PATCH', path => "^/v2/collections/$c/items" },
			process => $T, count => 1, delay_ms => 8000 });
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start([ 'psql', '-X', '-qAt', '-d', $node->connstr('postgres'), '-c',
			'SELECT webflow.drain()' ], '>', \$out, '2>', \$err);
	ok(wait_until(sub { grep { ($_->{fieldData}{name} // '') eq 'Kp New' } @{ fake_items($c) } }, 10, 0.05),
		'setup: the PATCH was carried out (answer held)');
	sql(q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'webflow drain'});
	$h->finish;
	ok(wait_until(sub { sql(q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'webflow drain'}) eq '0' }, 20, 0.1),
		'setup: the terminated pass is gone');
	sql(q{DELETE FROM k1 WHERE id = 1});
	verdict('k1', $c);
});

attempt('lost create, deleted, its delete (of the found item) lost after processing, then re-inserted under the old name', sub {
	my $c = coll();
	table('d1', $c);
	lose($c);
	sql(q{INSERT INTO d1 VALUES (1, 'Del Back', 'a')});
	drain_pass();
	sql(q{DELETE FROM d1 WHERE id = 1});
	sql('SELECT webflow.retry(false)');
	fake_fault({ match => { method => 'DELETE', path => "^/v2/collections/$c/items" }, process => $T, count => 2, drop => $T });
	drain_pass();
	fake_clear_faults();
	sql(q{INSERT INTO d1 VALUES (1, 'Del Back', 'a'), (2, 'Del Other', 'b')});
	verdict('d1', $c);
});

attempt('lost create, deleted, its delete lost before processing, then re-inserted under another name while another row takes the old one', sub {
	my $c = coll();
	table('d2', $c);
	lose($c);
	sql(q{INSERT INTO d2 VALUES (1, 'Del Pea', 'a')});
	drain_pass();
	sql(q{DELETE FROM d2 WHERE id = 1});
	sql('SELECT webflow.retry(false)');
	fake_fault({ match => { method => 'DELETE', path => "^/v2/collections/$c/items" }, count => 2, drop => $T });
	drain_pass();
	fake_clear_faults();
	sql(q{INSERT INTO d2 VALUES (1, 'Del Queue', 'a'), (2, 'Del Pea', 'b')});
	verdict('d2', $c);
});

attempt('two lost answers with different states: lost create, renamed, the update of the found item lost, renamed back, another row takes the middle name', sub {
	my $c = coll();
	table('u1', $c);
	lose($c);
	sql(q{INSERT INTO u1 VALUES (1, 'Uu A', 'a')});
	drain_pass();
	sql(q{UPDATE u1 SET name = 'Uu B' WHERE id = 1});
	sql('SELECT webflow.retry(false)');
	lose_update($c);
	drain_pass();
	ok(item_by($c, 'name', 'Uu B'), 'setup: the found item was updated (answer lost)');
	sql(q{UPDATE u1 SET name = 'Uu A' WHERE id = 1; INSERT INTO u1 VALUES (2, 'Uu B', 'b')});
	verdict('u1', $c);
});

attempt('drain(1): five lost creates, names rotated, one change per pass', sub {
	my $c = coll();
	table('p1', $c);
	lose($c);
	sql(q{INSERT INTO p1 SELECT i, 'One ' || i, 'd' FROM generate_series(1, 5) i});
	drain_pass();
	is(scalar @{ fake_items($c) }, 5, 'setup: the items were made');
	sql(q{UPDATE p1 SET name = 'One ' || (id % 5 + 1)});
	sql('SELECT webflow.retry(false)');
	for (1 .. 10) { sql('SELECT webflow.drain(1)'); }
	verdict('p1', $c);
});

attempt('packed: 600 rows, the first batch lost, retry(false) left open while one UPDATE renames all', sub {
	my $c = coll();
	table('p2', $c);
	sql(q{INSERT INTO p2 SELECT i, 'Pk ' || i, 'p' FROM generate_series(1, 600) i});
	lose($c);
	drain_pass();
	cmp_ok(out_rows('p2', 'maybe_sent'), '>=', 100, 'setup: the lost batch\'s rows are maybe sent');
	sql(q{UPDATE webflow.outbox SET next_attempt_at = now() + interval '1 hour' WHERE state = 'pending' AND maybe_sent});
	sql(q{UPDATE p2 SET name = 'Pk New ' || id});
	my $lock = $node->background_psql('postgres');
	$lock->query_safe(q{BEGIN; SELECT webflow.retry(false)});
	drain_pass();
	$lock->query_safe('COMMIT');
	$lock->quit;
	verdict('p2', $c);
});

# attempts 13-16 (a superuser's own row locks on webflow.outbox rows while a
# pass records them) are on branch atk27: they still break, see the header
skip_attempts(4);

attempt('retry(false) left open holds the lost create\'s put-back row while the row\'s delete is claimed', sub {
	my $c = coll();
	table('r4', $c);
	lose($c);
	sql(q{INSERT INTO r4 VALUES (1, 'Held Del', 'a')});
	drain_pass();
	is(scalar @{ fake_items($c) }, 1, 'setup: Webflow made the item (answer lost)');
	sql(q{UPDATE webflow.outbox SET next_attempt_at = now() + interval '1 hour' WHERE state = 'pending' AND maybe_sent});
	sql(q{DELETE FROM r4 WHERE id = 1});
	my $lock = $node->background_psql('postgres');
	$lock->query_safe(q{BEGIN; SELECT webflow.retry(false)});
	drain_pass();
	$lock->query_safe('COMMIT');
	$lock->quit;
	verdict('r4', $c);
});

# a lookup of a lost create that fails (a read: nothing sent) settles the
# change as WAIT with its outcome unknown (adopt.c webflow_resolve_unknown:
# webflow_settle(..., true)): record_staying marks the newest row, a state
# never sent, maybe sent; its slug becomes a candidate
attempt('scan: row 1 lost its create, rows 2-5 later; rows 1 and 2 trade names (2 then moves on), the next scan fails (503), then passes', sub {
	my $c = coll();
	table('w1', $c);
	lose($c);
	sql(q{INSERT INTO w1 VALUES (1, 'Lk Pea', 'a')});
	drain_pass();
	ok(item_by($c, 'name', 'Lk Pea'), 'setup: row 1\'s item was made');
	lose($c);
	sql(q{INSERT INTO w1 VALUES (2, 'Lk Queue', 'b'), (3, 'Lk 3', 'c'), (4, 'Lk 4', 'd'), (5, 'Lk 5', 'e')});
	drain_pass();
	is(scalar @{ fake_items($c) }, 5, 'setup: rows 2-5\'s items were made (answer lost)');
	sql(q{UPDATE w1 SET name = CASE id WHEN 1 THEN 'Lk Queue' ELSE 'Lk Bee' END WHERE id IN (1, 2)});
	fake_fault({ match => { method => 'GET', path => "^/v2/collections/$c/items\$" }, status => 503, count => 50 });
	sql('SELECT webflow.retry(false)');
	drain_pass();
	fake_clear_faults();
	is(out_rows('w1', q{o.maybe_sent AND o.row_key = '1'}), '1',
		'setup: only the state of row 1 that was sent is maybe sent after the failed reads (Lk Queue never sent)');
	verdict('w1', $c);
});

attempt('one by one: row 1\'s lost item reslugged in the Designer, row 2 lost later; they trade names, the next lookup fails (503)', sub {
	my $c = coll();
	table('w2', $c);
	lose($c);
	sql(q{INSERT INTO w2 VALUES (1, 'Lo Pea', 'a')});
	drain_pass();
	my $i1 = item_by($c, 'name', 'Lo Pea');
	ok($i1, 'setup: row 1\'s item was made');
	is(designer('PATCH', $c, $i1->{id}, { fieldData => { slug => 'lo-pea-designer' } }, 1), 200,
		'setup: the Designer gave it another slug');
	lose($c);
	sql(q{INSERT INTO w2 VALUES (2, 'Lo Queue', 'b')});
	drain_pass();
	is(scalar @{ fake_items($c) }, 2, 'setup: row 2\'s item was made (answer lost)');
	sql(q{UPDATE w2 SET name = CASE id WHEN 1 THEN 'Lo Queue' ELSE 'Lo Bee' END});
	fake_fault({ match => { method => 'GET', path => "^/v2/collections/$c/items\$" }, status => 503, count => 50 });
	sql('SELECT webflow.retry(false)');
	drain_pass();
	fake_clear_faults();
	verdict('w2', $c);
});

# sync() queues the rows with no item as maybe sent with their state now,
# never sent: the same candidate as 18, no fault but the lost creates
attempt('scan: as 18, but sync() instead of the failed reads', sub {
	my $c = coll();
	table('w3', $c);
	lose($c);
	sql(q{INSERT INTO w3 VALUES (1, 'Sk Pea', 'a')});
	drain_pass();
	ok(item_by($c, 'name', 'Sk Pea'), 'setup: row 1\'s item was made');
	lose($c);
	sql(q{INSERT INTO w3 VALUES (2, 'Sk Queue', 'b'), (3, 'Sk 3', 'c'), (4, 'Sk 4', 'd'), (5, 'Sk 5', 'e')});
	drain_pass();
	is(scalar @{ fake_items($c) }, 5, 'setup: rows 2-5\'s items were made (answer lost)');
	sql(q{UPDATE w3 SET name = CASE id WHEN 1 THEN 'Sk Queue' ELSE 'Sk Bee' END WHERE id IN (1, 2)});
	sql(q{SELECT webflow.sync('w3')});
	is(out_rows('w3', q{o.maybe_sent AND o.row_key = '1'}), '1',
		'setup: sync() queued row 1\'s state now (never sent) unmarked: only the state sent is maybe sent');
	verdict('w3', $c);
});

note(sprintf('the suite ran %.0f s', time - $t_start));
done_testing();
