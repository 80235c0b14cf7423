# t/105_lost_create_attack.pl: a tester's attacks on "nothing diverges,
# nothing duplicated" through the recovery of a create whose answer was
# lost (src/publish/adopt.c webflow_resolve_unknown, scan_newest,
# match_page, lookup_candidates, created_slug_taken; src/publish/drain.c
# plan_change, candidate_slugs; commit 94943d0).
#
# Outcomes at the time of writing (branch atk26 from main 94943d0; the
# suite ran about 100 s, 80 s of it the four rows that never settled;
# 29 attempts, 11 breaks, the same in every run).  All 11 are fixed since
# (the suite now runs about 30 s, every attempt holds): only the newest
# state of a pass is marked maybe sent (record.c, and the put-back of rows
# a dead pass left "sending", drain.c); a lost create is looked for only
# under the slugs and names of states that were sent, a delete's too
# (drain.c candidate_slugs, plan_change); the scan keeps every item with
# one of a row's names and gives it the newest one no other row took
# (adopt.c match_page); TRUNCATE also deletes the keys of failed rows
# that may have been sent.  Attempt 3's setup check, which counted the
# never sent state as maybe sent, now counts the two states sent; attempt
# 20 was judged by a site check that wanted every name live once (two rows
# share a name there): site_matches_on now counts each name once per row.
#
#   1  holds   two rows trade names after their batch create is lost (<= 3
#              changes: slug lookups one by one)
#   2  holds   five rows rotate names after their lost batch create (scan)
#   3  BROKE   row 1 inserted 'Pea Three', renamed 'Queue Three' before
#              any pass, row 2 inserted 'Pea Three'; the batch create
#              (Queue Three, Pea Three) is lost.  Every claimed state of
#              row 1 is marked maybe sent (record.c record_staying marks
#              the older, never sent rows too), so its candidates are
#              [pea-three, queue-three], oldest first: it takes row 2's item
#              (lookup_candidates), row 2 makes a second 'Pea Three', row 1
#              never gets queue-three (its own orphan holds it) and retries
#              for ever.  Visitor: Queue Three, Pea Three, Pea Three
#   4  holds   the same with five rows (scan: the page lists row 1's item
#              first, both made by one request)
#   5  BROKE   two rows trade names after their lost create, the Designer
#              gives row 1's item another slug, row 1 is deleted: the
#              delete's candidate names start with the name of its newest
#              upsert, never sent (drain.c plan_change, delete branch:
#              add_candidate(candidate_names, name of last_upsert_image)),
#              so it deletes row 2's item; row 2 makes a new one; row 1's
#              item stays live.  Visitor: Pea Four twice, table: one row
#   6  BROKE   as 3, then row 1 is deleted: its delete finds row 2's item
#              under pea-three-c (older, never sent state) and deletes it;
#              row 2 makes it again; 'Queue Three C' stays live with no
#              row; the queue is empty
#   7  BROKE   as 3 through the scan (five rows): row 2's item is newer
#              (its create lost in a later pass), the page lists it first,
#              match_page gives it to row 1 (candidate pea-three-d)
#   8  holds   as 5 with five rows (scan): row 1's item is listed first
#   9  holds   lost create, then a lost rename of the item found, then a
#              trade of names
#  10  holds   two lost creates in a row for one row (the Designer deleted
#              the first item), renamed, its old name taken by a new row
#  11  holds   lost create, UPDATE SET id, a new row under the old key
#  12  holds   two lost creates, the rows swap keys
#  13  holds   two lost creates, swap keys and trade names
#  14  holds   explicit slugs: lost create under s1, row moves to s2, a new
#              row takes s1
#  15  holds   explicit slugs traded while the create is lost
#  16  holds   two tables bound to one collection, a row moved between them
#              after its lost create, another row takes its name
#  17  holds   lost create (500), the Designer unpublishes, row renamed
#  18  holds   three rows rotate names, the Designer reslugs all three
#              (name fallback, one by one)
#  19  BROKE   scan: the Designer reslugs row 1's lost item; rows 2-5 lost
#              in a later pass; rows 1 and 2 trade names and row 1 is
#              deleted.  match_page notes per change only the first
#              (newest) item with one of its names: row 1's candidate
#              names include 'Queue Eight' (its never sent newest state,
#              as in 5), the newest such item is row 2's, which row 2 then
#              takes by slug; the whole collection was read, so row 1 "has
#              no item" (scan_newest) and its own 'Pea Eight' stays live.
#              Visitor: Pea Eight twice, table: one
#  20  BROKE   scan, explicit slugs, no never-sent state involved: rows 1
#              and 2 both named 'Same Name' (slugs same-a, same-b); row 1's
#              lost item reslugged in the Designer; rows 2-5 lost later.
#              names[row 1] is row 2's newer item, row 2 takes it by slug,
#              row 1 creates a third 'Same Name'; the reslugged one stays
#              live.  Visitor: 3 x Same Name for 2 rows
#  21  holds   150 published rows, five lost creates, 120 Designer drafts
#              after them (items beyond the first page), rotation
#  22  BROKE   as 6, but the pass (drain()'s worker) is terminated while
#              the create is in flight: the put-back marks all three rows
#              maybe sent.  'Kill Queue' stays live with no row
#  23  BROKE   as 3, the server stopped -m immediate while the create is in
#              flight: Stop Pea twice, row 1 stuck
#  24  BROKE   as 6, the lost answer a 200 that is not JSON: 'Raw Queue'
#              stays live with no row
#  25  BROKE   as 3 with a key change: row 1 'Rekey Pea' re-keyed to 2
#              (UPDATE SET id) and a new row 1 'Rekey Queue', before any
#              pass; key 1's claimed states include 'Rekey Pea' (delete +
#              upsert of the key change), so key 1 takes key 2's item.
#              Visitor: Rekey Pea twice, key 1 stuck
#  26  holds   lost create, trade names, the next lookup fails (503)
#  27  holds   600 rows packed, the first create batch lost, one UPDATE
#              rotating all 600 names
#  28  holds   lost create, the row then fails for its own reason (name
#              '!!!': no slug; build_payload fails before any lookup), then
#              DELETE: the failed maybe-sent rows come along, item deleted
#  29  BROKE   the same, then TRUNCATE instead of DELETE: the truncate
#              trigger (webflow--1.0--1.1.sql _truncate_trigger) queues
#              deletes for the keys of the item map and of the outbox rows
#              "state <> 'failed'" only; the lost item is in neither, so no
#              delete is queued.  Visitor: 'Trunc Fail' live, table empty
#              (the key's failed rows stay in the outbox for good)
#
# Each attempt is one subtest "attempt N: ..." that passes when the
# guarantee holds: once the queue has drained (no pending, sending or
# failed row), every row of the table is live exactly once under its
# name and nothing else is live (all pages of List Live Items, read
# through the public API with the read-only token).  The worker is off:
# every pass is a drain(), so the order of lost answers, table changes and
# passes is deterministic.  The lost answers are faults of the fake
# processed before the answer is replaced (dropped connection, 500, body
# that is not JSON).
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
my $node = lca_start('lost_create_attack', 'lca', 'LCA', 'T105_ONLY');

# ---------------------------------------------------------------------------
attempt('two rows trade names while their batch create is lost (slug lookups)', sub {
	my $c = coll();
	table('t1', $c);
	lose($c);
	sql(q{INSERT INTO t1 VALUES (1, 'Alpha One', 'a'), (2, 'Beta One', 'b')});
	drain_pass();
	is(scalar @{ fake_items($c) }, 2, 'setup: Webflow made both items');
	cmp_ok(maybe_sent(), '>', 0, 'setup: the rows are maybe sent');
	sql(q{UPDATE t1 SET name = CASE id WHEN 1 THEN 'Beta One' ELSE 'Alpha One' END});
	verdict('t1', $c);
});

attempt('five rows rotate names while their batch create is lost (newest-items scan)', sub {
	my $c = coll();
	table('t2', $c);
	lose($c);
	sql(q{INSERT INTO t2 SELECT i, 'Rot ' || i, 'd' FROM generate_series(1, 5) i});
	drain_pass();
	is(scalar @{ fake_items($c) }, 5, 'setup: Webflow made the items');
	sql(q{UPDATE t2 SET name = 'Rot ' || (id % 5 + 1)});
	verdict('t2', $c);
});

# the claimed change of a row carries its older, never sent, states: they
# are marked maybe sent all the same, and their slugs are candidates, before
# the state that was sent
attempt('a row renamed before its first pass (older state never sent) and another row taking its first name, batch create lost', sub {
	my $c = coll();
	table('t3', $c);
	sql(q{INSERT INTO t3 VALUES (1, 'Pea Three', 'a')});
	sql(q{UPDATE t3 SET name = 'Queue Three' WHERE id = 1});
	sql(q{INSERT INTO t3 VALUES (2, 'Pea Three', 'b')});
	lose($c);
	drain_pass();
	is(scalar @{ fake_items($c) }, 2, 'setup: Webflow made both items (Queue Three for row 1, Pea Three for row 2)');
	is(maybe_sent(), '2', 'setup: the two states sent are maybe sent (not the older state of row 1, never sent)');
	verdict('t3', $c);
});

attempt('same, five rows (newest-items scan)', sub {
	my $c = coll();
	table('t3b', $c);
	sql(q{INSERT INTO t3b VALUES (1, 'Pea Three B', 'a')});
	sql(q{UPDATE t3b SET name = 'Queue Three B' WHERE id = 1});
	sql(q{INSERT INTO t3b VALUES (2, 'Pea Three B', 'b'), (3, 'Other 3', 'c'), (4, 'Other 4', 'd'), (5, 'Other 5', 'e')});
	lose($c);
	drain_pass();
	is(scalar @{ fake_items($c) }, 5, 'setup: Webflow made the items');
	verdict('t3b', $c);
});

# a delete after a lost create: plan_change adds the name of the row's
# newest upsert (never sent) to the candidate names
attempt('two rows trade names after a lost create, the Designer reslugs one item, then that row is deleted', sub {
	my $c = coll();
	table('t4', $c);
	lose($c);
	sql(q{INSERT INTO t4 VALUES (1, 'Pea Four', 'a'), (2, 'Queue Four', 'b')});
	drain_pass();
	my $i1 = item_by($c, 'name', 'Pea Four');
	ok($i1, 'setup: Webflow made the items');
	is(designer('PATCH', $c, $i1->{id}, { fieldData => { slug => 'pea-four-designer' } }, 1), 200,
		'setup: the Designer gave row 1\'s item another slug');
	sql(q{BEGIN; UPDATE t4 SET name = CASE id WHEN 1 THEN 'Queue Four' ELSE 'Pea Four' END;
	      DELETE FROM t4 WHERE id = 1; COMMIT;});
	verdict('t4', $c);
});


# the same older, never sent state, then the row is deleted: the delete
# looks its item up under that state's slug too
attempt('a row renamed before its first pass, another row taking its first name, batch create lost, then the renamed row is deleted', sub {
	my $c = coll();
	table('t3c', $c);
	sql(q{INSERT INTO t3c VALUES (1, 'Pea Three C', 'a')});
	sql(q{UPDATE t3c SET name = 'Queue Three C' WHERE id = 1});
	sql(q{INSERT INTO t3c VALUES (2, 'Pea Three C', 'b')});
	lose($c);
	drain_pass();
	is(scalar @{ fake_items($c) }, 2, 'setup: Webflow made both items');
	sql(q{DELETE FROM t3c WHERE id = 1});
	verdict('t3c', $c);
});

# the same through the newest-items scan: the other row's item is newer
# (lost in a later pass), so the page lists it first
attempt('older never sent state, other row\'s lost create in a later pass, five rows (newest-items scan)', sub {
	my $c = coll();
	table('t3d', $c);
	sql(q{INSERT INTO t3d VALUES (1, 'Pea Three D', 'a')});
	sql(q{UPDATE t3d SET name = 'Queue Three D' WHERE id = 1});
	lose($c);
	drain_pass();
	is(scalar @{ fake_items($c) }, 1, 'setup: Webflow made row 1\'s item (Queue Three D)');
	# (row 1 waits for its backoff: the next pass sends only the new rows)
	sql(q{INSERT INTO t3d VALUES (2, 'Pea Three D', 'b'), (3, 'D Three', 'c'), (4, 'D Four', 'd'), (5, 'D Five', 'e')});
	lose($c);
	drain_pass();
	is(scalar @{ fake_items($c) }, 5, 'setup: Webflow made the other rows\' items too');
	is(sql(q{SELECT count(DISTINCT row_key) FROM webflow.outbox WHERE maybe_sent}), '5', 'setup: five rows maybe sent');
	verdict('t3d', $c);
});

attempt('two rows trade names after a lost create, the Designer reslugs one item, then that row is deleted (five rows: scan)', sub {
	my $c = coll();
	table('t5b', $c);
	lose($c);
	sql(q{INSERT INTO t5b VALUES (1, 'Pea Five', 'a'), (2, 'Queue Five', 'b'), (3, 'E3', 'c'), (4, 'E4', 'd'), (5, 'E5', 'e')});
	drain_pass();
	my $i1 = item_by($c, 'name', 'Pea Five');
	ok($i1, 'setup: Webflow made the items');
	is(designer('PATCH', $c, $i1->{id}, { fieldData => { slug => 'pea-five-designer' } }, 1), 200,
		'setup: the Designer gave row 1\'s item another slug');
	sql(q{BEGIN; UPDATE t5b SET name = CASE id WHEN 1 THEN 'Queue Five' ELSE 'Pea Five' END WHERE id IN (1, 2);
	      DELETE FROM t5b WHERE id = 1; COMMIT;});
	verdict('t5b', $c);
});

attempt('a lost create, then a lost update (rename) of the item found, then two rows trade names', sub {
	my $c = coll();
	table('t6', $c);
	lose($c);
	sql(q{INSERT INTO t6 VALUES (1, 'Lu A', 'a'), (2, 'Lu B', 'b')});
	drain_pass();
	is(scalar @{ fake_items($c) }, 2, 'setup: Webflow made both items');
	sql(q{UPDATE t6 SET name = 'Lu C' WHERE id = 1});
	lose_update($c);
	sql('SELECT webflow.retry(false)');
	drain_pass();
	ok(item_by($c, 'name', 'Lu C'), 'setup: the rename was carried out (its answer lost)');
	sql(q{UPDATE t6 SET name = CASE id WHEN 1 THEN 'Lu B' ELSE 'Lu C' END});
	verdict('t6', $c);
});

attempt('two lost creates in a row for one row (the Designer deleted the first item), then renamed, its old name taken by a new row', sub {
	my $c = coll();
	table('t7', $c);
	lose($c);
	sql(q{INSERT INTO t7 VALUES (1, 'Twice', 'a')});
	drain_pass();
	my $i1 = item_by($c, 'name', 'Twice');
	ok($i1, 'setup: the first item was made');
	is(designer('DELETE', $c, $i1->{id}), 204, 'setup: the Designer deleted it');
	lose($c);
	sql('SELECT webflow.retry(false)');
	drain_pass();
	is(scalar @{ fake_items($c) }, 1, 'setup: the second create was carried out (its answer lost)');
	sql(q{UPDATE t7 SET name = 'Twice Renamed' WHERE id = 1; INSERT INTO t7 VALUES (2, 'Twice', 'b')});
	verdict('t7', $c);
});

attempt('a lost create, then the row re-keyed (UPDATE SET id) and a new row under the old key', sub {
	my $c = coll();
	table('t8', $c);
	lose($c);
	sql(q{INSERT INTO t8 VALUES (1, 'Key A', 'a')});
	drain_pass();
	ok(item_by($c, 'name', 'Key A'), 'setup: the item was made');
	sql(q{UPDATE t8 SET id = 2 WHERE id = 1; INSERT INTO t8 VALUES (1, 'Key B', 'b')});
	verdict('t8', $c);
});

attempt('two lost creates, then the rows swap keys (two rows moved between keys)', sub {
	my $c = coll();
	table('t9', $c);
	lose($c);
	sql(q{INSERT INTO t9 VALUES (1, 'Swap One', 'a'), (2, 'Swap Two', 'b')});
	drain_pass();
	is(scalar @{ fake_items($c) }, 2, 'setup: both items made');
	sql(q{BEGIN; UPDATE t9 SET id = -id; UPDATE t9 SET id = 3 + id; COMMIT;});
	verdict('t9', $c);
});

attempt('two lost creates, the rows swap keys and then trade names', sub {
	my $c = coll();
	table('t9b', $c);
	lose($c);
	sql(q{INSERT INTO t9b VALUES (1, 'Swap B One', 'a'), (2, 'Swap B Two', 'b')});
	drain_pass();
	sql(q{BEGIN; UPDATE t9b SET id = -id; UPDATE t9b SET id = 3 + id;
	      UPDATE t9b SET name = CASE id WHEN 1 THEN 'Swap B One' ELSE 'Swap B Two' END; COMMIT;});
	verdict('t9b', $c);
});

attempt('explicit slugs: a lost create under slug s1, the row moves to s2 and a new row takes s1', sub {
	my $c = coll();
	table('t11', $c, 'slug text');
	lose($c);
	sql(q{INSERT INTO t11 VALUES (1, 'Ess A', 'a', 'ess-one')});
	drain_pass();
	ok(item_by($c, 'slug', 'ess-one'), 'setup: the item was made');
	sql(q{UPDATE t11 SET slug = 'ess-two' WHERE id = 1; INSERT INTO t11 VALUES (2, 'Ess B', 'b', 'ess-one')});
	verdict('t11', $c);
});

attempt('explicit slugs: two rows trade slugs (names kept) while their create is lost', sub {
	my $c = coll();
	table('t11b', $c, 'slug text');
	lose($c);
	sql(q{INSERT INTO t11b VALUES (1, 'Ess B A', 'a', 'essb-one'), (2, 'Ess B B', 'b', 'essb-two')});
	drain_pass();
	sql(q{UPDATE t11b SET slug = CASE id WHEN 1 THEN 'essb-two' ELSE 'essb-one' END});
	verdict('t11b', $c);
});

attempt('two tables bound to one collection: a row moved from one to the other after its lost create, another row takes its name', sub {
	my $c = coll();
	table('t12a', $c);
	table('t12b', $c);
	lose($c);
	sql(q{INSERT INTO t12a VALUES (1, 'Mover', 'a')});
	drain_pass();
	ok(item_by($c, 'name', 'Mover'), 'setup: the item was made');
	sql(q{BEGIN; DELETE FROM t12a WHERE id = 1; INSERT INTO t12b VALUES (1, 'Mover Moved', 'a'); INSERT INTO t12a VALUES (2, 'Mover', 'b'); COMMIT;});
	my $drained = settle('t12a') & settle('t12b');
	my ($ok, $d) = site_matches_on($node, '(SELECT name FROM t12a UNION ALL SELECT name FROM t12b) u', $c);
	ok($drained, 'the queue drained');
	ok($ok, "the live site equals the tables: $d");
	dump_state('t12a', $c) unless $ok && $drained;
	sql(q{SELECT webflow.unbind('t12a'); SELECT webflow.unbind('t12b')});
});

attempt('a lost create (500 after processing), the Designer unpublishes the item, the row is renamed', sub {
	my $c = coll();
	table('t13', $c);
	lose($c, status => 500);
	sql(q{INSERT INTO t13 VALUES (1, 'Unpub', 'a')});
	drain_pass();
	my $i1 = item_by($c, 'name', 'Unpub');
	ok($i1, 'setup: the item was made');
	is(designer('DELETE', $c, $i1->{id}, undef, 1), 204, 'setup: the Designer unpublished it');
	sql(q{UPDATE t13 SET name = 'Unpub Renamed' WHERE id = 1});
	verdict('t13', $c);
});

attempt('three rows rotate names while their create is lost, the Designer reslugs all three items', sub {
	my $c = coll();
	table('t14', $c);
	lose($c);
	sql(q{INSERT INTO t14 VALUES (1, 'Rot A', 'a'), (2, 'Rot B', 'b'), (3, 'Rot C', 'c')});
	drain_pass();
	for my $x ('A', 'B', 'C')
	{
		my $i = item_by($c, 'name', "Rot $x");
		designer('PATCH', $c, $i->{id}, { fieldData => { slug => "rot-\L$x\E-designer" } }, 1);
	}
	sql(q{UPDATE t14 SET name = CASE id WHEN 1 THEN 'Rot B' WHEN 2 THEN 'Rot C' ELSE 'Rot A' END});
	verdict('t14', $c);
});


# the scan notes, per row, only the first (newest) item with one of its
# names; when another row then takes that item by its slug, the row's own
# item (older, also with the name) is never considered
attempt('scan: the Designer reslugs a lost item; a newer lost item of another row has the deleted row\'s newest name (five rows)', sub {
	my $c = coll();
	table('t8b', $c);
	lose($c);
	sql(q{INSERT INTO t8b VALUES (1, 'Pea Eight', 'a')});
	drain_pass();
	my $i1 = item_by($c, 'name', 'Pea Eight');
	ok($i1, 'setup: row 1\'s item was made');
	is(designer('PATCH', $c, $i1->{id}, { fieldData => { slug => 'pea-eight-designer' } }, 1), 200,
		'setup: the Designer gave it another slug');
	lose($c);
	sql(q{INSERT INTO t8b VALUES (2, 'Queue Eight', 'b'), (3, 'H3', 'c'), (4, 'H4', 'd'), (5, 'H5', 'e')});
	drain_pass();
	is(scalar @{ fake_items($c) }, 5, 'setup: the other rows\' items were made (answer lost)');
	sql(q{BEGIN; UPDATE t8b SET name = CASE id WHEN 1 THEN 'Queue Eight' ELSE 'Pea Eight' END WHERE id IN (1, 2);
	      DELETE FROM t8b WHERE id = 1; COMMIT;});
	verdict('t8b', $c);
});

attempt('scan, explicit slugs: two rows with one name, the older lost item reslugged in the Designer, the newer lost item is the other row\'s (five rows)', sub {
	my $c = coll();
	table('t19', $c, 'slug text');
	lose($c);
	sql(q{INSERT INTO t19 VALUES (1, 'Same Name', 'a', 'same-a')});
	drain_pass();
	my $i1 = item_by($c, 'slug', 'same-a');
	ok($i1, 'setup: row 1\'s item was made');
	is(designer('PATCH', $c, $i1->{id}, { fieldData => { slug => 'same-a-designer' } }, 1), 200,
		'setup: the Designer gave it another slug');
	lose($c);
	sql(q{INSERT INTO t19 VALUES (2, 'Same Name', 'b', 'same-b'), (3, 'S3', 'c', 's-3'), (4, 'S4', 'd', 's-4'), (5, 'S5', 'e', 's-5')});
	drain_pass();
	is(scalar @{ fake_items($c) }, 5, 'setup: the other rows\' items were made (answer lost)');
	verdict('t19', $c);
});

attempt('more than 100 items: 150 rows published, five lost creates, 120 Designer drafts made after them, the five rotate names', sub {
	my $c = coll();
	table('t20', $c);
	sql(q{INSERT INTO t20 SELECT i, 'Many ' || i, 'x' FROM generate_series(101, 250) i});
	ok(settle('t20'), 'setup: 150 rows published');
	lose($c);
	sql(q{INSERT INTO t20 SELECT i, 'Lost ' || i, 'd' FROM generate_series(1, 5) i});
	drain_pass();
	is(scalar @{ fake_items($c) }, 155, 'setup: the five lost items were made');
	for my $k (0, 1)
	{
		my ($st) = fake_api('POST', "/collections/$c/items",
			{ items => [ map { { isDraft => $T, fieldData => { name => "Draft $_", slug => "draft-$_" } } } (60 * $k + 1) .. (60 * $k + 60) ] },
			actor => 'designer');
		is($st, 202, 'setup: the Designer made 60 drafts');
	}
	is(scalar @{ fake_items($c) }, 275, 'setup: 275 items in the collection');
	sql(q{UPDATE t20 SET name = 'Lost ' || (id % 5 + 1) WHERE id <= 5});
	verdict('t20', $c);
});

# a pass killed while the create is in flight: its rows are put back as
# maybe sent (every state the change carried), then the renamed row is deleted
attempt('drain()\'s pass worker terminated while the batch create is in flight (older never sent state, then delete)', sub {
	my $c = coll();
	table('t21', $c);
	sql(q{INSERT INTO t21 VALUES (1, 'Kill Pea', 'a')});
	sql(q{UPDATE t21 SET name = 'Kill Queue' WHERE id = 1});
	sql(q{INSERT INTO t21 VALUES (2, 'Kill Pea', 'b')});
	fake_fault({ match => { method => 'POST', path => "^/v2/collections/$c/items(/live)?\$" },
			process => $T, count => 1, delay_ms => 8000 });
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start([ 'psql', '-X', '-qAt', '-d', $node->connstr('postgres'), '-c',
			'SELECT webflow.drain()' ], '>', \$out, '2>', \$err);
	ok(wait_until(sub { @{ fake_items($c) } == 2 }, 10, 0.05), 'setup: Webflow made both items (answer held)');
	is(sql(q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'webflow drain'}), '1', 'setup: the pass (drain()\'s worker) is in flight');
	sql(q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'webflow drain'});
	$h->finish;
	ok(wait_until(sub { sql(q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'webflow drain'}) eq '0' }, 20, 0.1),
		'setup: the terminated pass is gone');
	is(sql(q{SELECT count(*) FROM webflow.outbox WHERE state = 'sending'}), '3', 'setup: it left its three rows sending');
	sql(q{DELETE FROM t21 WHERE id = 1});
	verdict('t21', $c);
});


attempt('the server stopped -m immediate while the batch create is in flight (older never sent state)', sub {
	my $c = coll();
	table('t23', $c);
	sql(q{INSERT INTO t23 VALUES (1, 'Stop Pea', 'a')});
	sql(q{UPDATE t23 SET name = 'Stop Queue' WHERE id = 1});
	sql(q{INSERT INTO t23 VALUES (2, 'Stop Pea', 'b')});
	fake_fault({ match => { method => 'POST', path => "^/v2/collections/$c/items(/live)?\$" },
			process => $T, count => 1, delay_ms => 8000 });
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start([ 'psql', '-X', '-qAt', '-d', $node->connstr('postgres'), '-c',
			'SELECT webflow.drain()' ], '>', \$out, '2>', \$err);
	ok(wait_until(sub { @{ fake_items($c) } == 2 }, 10, 0.05), 'setup: Webflow made both items (answer held)')
	  or diag("drain: $out $err; requests: " . join(' | ', map { "$_->{method} $_->{path} " . ($_->{status} // 'x') } @{ fake_log(attempt_seq()) })
		. '; activity: ' . sql(q{SELECT string_agg(coalesce(query, '') || ' ' || coalesce(wait_event, ''), ' | ') FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'}));
	$node->stop('immediate');
	$h->finish;
	$node->start;
	is(sql(q{SELECT count(*) FROM webflow.outbox o JOIN webflow.bindings b ON b.id = o.binding_id
	         WHERE b.source = 't23'::regclass AND o.state = 'sending'}), '3', 'setup: the three rows were left sending');
	verdict('t23', $c);
});

attempt('a lost create answered 200 with a body that is not JSON (older never sent state, then delete)', sub {
	my $c = coll();
	table('t24', $c);
	sql(q{INSERT INTO t24 VALUES (1, 'Raw Pea', 'a')});
	sql(q{UPDATE t24 SET name = 'Raw Queue' WHERE id = 1});
	sql(q{INSERT INTO t24 VALUES (2, 'Raw Pea', 'b')});
	lose($c, status => 200, raw => '<html>upstream</html>');
	drain_pass();
	is(scalar @{ fake_items($c) }, 2, 'setup: Webflow made both items');
	sql(q{DELETE FROM t24 WHERE id = 1});
	verdict('t24', $c);
});


attempt('a row re-keyed (UPDATE SET id) before its first pass and a new row under its old key, batch create lost', sub {
	my $c = coll();
	table('t25', $c);
	sql(q{INSERT INTO t25 VALUES (1, 'Rekey Pea', 'a')});
	sql(q{UPDATE t25 SET id = 2 WHERE id = 1});
	sql(q{INSERT INTO t25 VALUES (1, 'Rekey Queue', 'b')});
	lose($c);
	drain_pass();
	is(scalar @{ fake_items($c) }, 2, 'setup: Webflow made both items');
	verdict('t25', $c);
});

attempt('lost batch create, the rows trade names, the next lookup fails (503), then they are settled', sub {
	my $c = coll();
	table('t26', $c);
	lose($c);
	sql(q{INSERT INTO t26 VALUES (1, 'Fail Look A', 'a'), (2, 'Fail Look B', 'b')});
	drain_pass();
	sql(q{UPDATE t26 SET name = CASE id WHEN 1 THEN 'Fail Look B' ELSE 'Fail Look A' END});
	fake_fault({ match => { method => 'GET', path => "^/v2/collections/$c/items\$" }, status => 503, count => 1 });
	sql('SELECT webflow.retry(false)');
	drain_pass();
	cmp_ok(sql(q{SELECT count(*) FROM webflow.outbox o JOIN webflow.bindings b ON b.id = o.binding_id
	         WHERE b.source = 't26'::regclass AND o.maybe_sent}), '==', 2, 'setup: the two states sent are maybe sent, not those queued since (the failed lookup sent nothing of them)');
	verdict('t26', $c);
});


attempt('packed outbox: 600 rows in one INSERT, the first create batch (100) lost, then one UPDATE rotates the names of all 600', sub {
	my $c = coll();
	table('t27', $c);
	sql(q{INSERT INTO t27 SELECT i, 'Pack ' || i, 'p' FROM generate_series(1, 600) i});
	is(sql(q{SELECT count(*) FROM webflow.outbox_packed}), '1', 'setup: the insert was packed');
	lose($c);
	drain_pass();
	cmp_ok(scalar @{ fake_items($c) }, '>=', 100, 'setup: the lost batch was made');
	cmp_ok(maybe_sent(), '>=', 100, 'setup: its rows are maybe sent');
	sql(q{UPDATE t27 SET name = 'Pack ' || (id % 600 + 1)});
	verdict('t27', $c);
});


# a row whose next state cannot become an item fails (its own fault)
# before its lost create is looked up: its rows stay failed and maybe sent
attempt('a lost create, then the row fails for its own reason (a name with no slug), then it is deleted', sub {
	my $c = coll();
	table('t28', $c);
	lose($c);
	sql(q{INSERT INTO t28 VALUES (1, 'Own Fail', 'a'), (2, 'Own Fail Other', 'b')});
	drain_pass();
	is(scalar @{ fake_items($c) }, 2, 'setup: Webflow made the items');
	sql(q{UPDATE t28 SET name = '!!!' WHERE id = 1});
	sql('SELECT webflow.retry(false)');
	drain_pass();
	is(sql(q{SELECT count(*) FROM webflow.outbox o JOIN webflow.bindings b ON b.id = o.binding_id
	         WHERE b.source = 't28'::regclass AND o.state = 'failed' AND o.maybe_sent}), '1', 'setup: row 1 failed (its lost create\'s row failed and maybe sent)');
	sql(q{DELETE FROM t28 WHERE id = 1});
	verdict('t28', $c);
});

attempt('a lost create, then the row fails for its own reason (a name with no slug), then the table is truncated', sub {
	my $c = coll();
	table('t29', $c);
	lose($c);
	sql(q{INSERT INTO t29 VALUES (1, 'Trunc Fail', 'a'), (2, 'Trunc Other', 'b')});
	drain_pass();
	is(scalar @{ fake_items($c) }, 2, 'setup: Webflow made the items');
	sql(q{UPDATE t29 SET name = '!!!' WHERE id = 1});
	sql('SELECT webflow.retry(false)');
	drain_pass();
	is(sql(q{SELECT count(*) FROM webflow.outbox o JOIN webflow.bindings b ON b.id = o.binding_id
	         WHERE b.source = 't29'::regclass AND o.state = 'failed' AND o.maybe_sent}), '1', 'setup: row 1 failed (its lost create\'s row failed and maybe sent)');
	sql(q{TRUNCATE t29});
	# (the failed rows of a key no longer in the table are no row's to fix:
	# only what is not failed must drain; the site must show nothing)
	my $t0 = time;
	for (1 .. 40)
	{
		last if time - $t0 > 20;
		last if sql(q{SELECT count(*) FROM webflow.outbox o JOIN webflow.bindings b ON b.id = o.binding_id
		              WHERE b.source = 't29'::regclass AND o.state <> 'failed'}) eq '0';
		sql('SELECT webflow.retry(false)');
		sleep(0.2) if drain_pass() <= 0;
	}
	my ($ok, $d) = site_matches_on($node, 't29', $c);
	ok($ok, "the live site equals the (empty) table: $d");
	dump_state('t29', $c) unless $ok;
	sql(q{SELECT webflow.unbind('t29')});
});

note(sprintf('the suite ran %.0f s', time - $t_start));
done_testing();
