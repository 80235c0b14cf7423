# t/031_publish_semantics.pl: what the publish trigger queues and what a
# drain sends, checked at the local Webflow.  The worker is disabled
# (webflow.worker_enabled = off), so every send happens in webflow.drain()
# and the request log shows exactly what each drain sent.
#
# Proves: coalescing (an insert and three updates are one create with the
# last values; an insert and a delete send nothing); a rolled-back
# transaction queues nothing; an UPDATE that changes nothing, or only an
# excluded column, queues nothing; a key change removes the old item and
# creates the new one; the on_delete variants (unpublish, unpublish_only,
# archive, ignore) and what re-inserting the row does afterwards; live =
# false (staged items and drafts); request sizes with webflow.batch_size =
# 10; references between two bound tables written in one transaction; a
# partitioned table; two tables feeding one collection with the same keys; a
# writer with only INSERT on the table and no rights on schema webflow;
# only the table owner binds; sync() queues only rows that differ;
# retry() requeues failed rows.
#
# Known bugs of the extension are marked TODO where they are tested (see
# the BUG comments); a TODO test that starts passing means the bug is fixed.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use FindBin;
use lib $FindBin::RealBin;
use WebflowTest;

start_fake();
my $node = new_node('publish_semantics', 'webflow.worker_enabled' => 'off');

sub sql   { return $node->safe_psql('postgres', $_[0]); }
sub drain { return sql('SELECT webflow.drain()'); }
sub outbox_count { return sql('SELECT count(*) FROM webflow.outbox'); }

# item(COLLECTION, SLUG): the fake's item with that (staged) slug, or undef
# (also when there are several)
sub item
{
	my ($collection, $slug) = @_;
	my @found = grep { ($_->{fieldData}{slug} // '') eq $slug } @{ fake_items($collection) };
	diag(scalar(@found) . " items with slug $slug") if @found > 1;
	return @found == 1 ? $found[0] : undef;
}

sub requests_since
{
	my ($seq) = @_;
	return [ map { "$_->{method} $_->{path}" . (defined $_->{items_in_body} ? " ($_->{items_in_body})" : '') }
		  @{ fake_log($seq) } ];
}

is(worker_status($node)->{state}, 'disabled', 'the background worker is disabled');

sql(qq{
CREATE TABLE jobs (id serial PRIMARY KEY, name text NOT NULL, url text, department text, note text);
SELECT webflow.bind('jobs', '$JOBS', '{"exclude": ["note"]}');
});

# ---- coalescing
sql(q{
INSERT INTO jobs (id, name, department) VALUES (1, 'Coalesced Job', 'v0');
UPDATE jobs SET department = 'v1' WHERE id = 1;
UPDATE jobs SET department = 'v2' WHERE id = 1;
UPDATE jobs SET department = 'v3', url = 'https://example.com/final' WHERE id = 1;
});
is(outbox_count(), '4', 'an insert and three updates queue four outbox rows');
my $seq = fake_log_seq();
is(drain(), '4', 'drain() completes all four rows');
is_deeply(requests_since($seq), ["POST /v2/collections/$JOBS/items/live (1)"],
	'they were sent as one create of one item');
my $it = item($JOBS, 'coalesced-job');
is_deeply([ @{ $it->{liveFieldData} }{qw(department url)} ], [ 'v3', 'https://example.com/final' ],
	'the created item has the values of the last update');
is(outbox_count(), '0', 'the outbox is empty after the drain');

sql(q{INSERT INTO jobs (id, name) VALUES (2, 'Ephemeral Job'); DELETE FROM jobs WHERE id = 2;});
is(outbox_count(), '2', 'an insert and a delete queue two rows');
$seq = fake_log_seq();
is(drain(), '2', 'drain() completes both');
is_deeply(requests_since($seq), [], 'an insert and a delete before a drain send nothing');
ok(!item($JOBS, 'ephemeral-job'), 'no item for the ephemeral row');

# ---- rollback and unchanged updates
sql(q{BEGIN; INSERT INTO jobs (id, name) VALUES (3, 'Rolled Back'); ROLLBACK;});
is(outbox_count(), '0', 'a rolled-back transaction leaves no outbox row');
sql(q{UPDATE jobs SET name = name, department = department});
is(outbox_count(), '0', 'an UPDATE that changes no column queues nothing');
sql(q{UPDATE jobs SET note = 'internal remark'});
is(outbox_count(), '0', 'an UPDATE of an excluded column only queues nothing');
sql(q{UPDATE jobs SET note = 'another remark', department = 'v4'});
is(outbox_count(), '1', 'an UPDATE of an excluded and a mapped column queues one row');
$seq = fake_log_seq();
drain();
is_deeply(requests_since($seq), ["PATCH /v2/collections/$JOBS/items/live (1)"],
	'which is sent as one PATCH');

# ---- key change
my $old_id = item($JOBS, 'coalesced-job')->{id};
sql(q{UPDATE jobs SET id = 100 WHERE id = 1});
is(sql(q{SELECT string_agg(op || ':' || row_key, ',' ORDER BY id) FROM webflow.outbox}),
	'delete:1,upsert:100', 'a key change queues the delete of the old key and the new row');
$seq = fake_log_seq();
drain();
$it = item($JOBS, 'coalesced-job');
ok($it && $it->{isLive}, 'after a key change the row has a live item');
isnt($it && $it->{id}, $old_id, 'the item of the old key is gone, a new one was created');
ok(!grep({ $_->{id} eq $old_id } @{ fake_items($JOBS) }), 'the old item no longer exists at Webflow');
is(sql(qq{SELECT string_agg(source_key || '=' || item_id, ',') FROM webflow.items
          WHERE collection_id = '$JOBS' AND source_key IN ('1', '100')}),
	'100=' . ($it ? $it->{id} : '?'), 'webflow.items maps the new key only');
note(join("\n", 'key change requests:', @{ requests_since($seq) }));

# ---- on_delete variants (four tables feeding Jobs; distinct keys, see the
# end of this file for overlapping ones)
my $key = 10;
for my $variant (qw(unpublish unpublish_only archive ignore))
{
	my $options = $variant eq 'unpublish' ? '{}' : qq({"on_delete": "$variant"});
	$key++;
	sql(qq{
CREATE TABLE del_$variant (id int PRIMARY KEY, name text NOT NULL);
SELECT webflow.bind('del_$variant', '$JOBS', '$options');
INSERT INTO del_$variant VALUES ($key, 'Delete $variant');
});
}
drain();
my %slug = map { my $s = "delete-$_"; $s =~ tr/_/-/; ($_ => $s) } qw(unpublish unpublish_only archive ignore);
is(scalar(grep { item($JOBS, $slug{$_}) && item($JOBS, $slug{$_})->{isLive} } keys %slug), 4,
	'four tables with different on_delete options have live items');
my %before = map { ($_ => item($JOBS, $slug{$_})) } keys %slug;
$seq = fake_log_seq();
sql(q{DELETE FROM del_unpublish; DELETE FROM del_unpublish_only; DELETE FROM del_archive; DELETE FROM del_ignore;});
is(drain(), '4', 'drain() completes the four deletes');
ok(!item($JOBS, $slug{unpublish}), 'on_delete unpublish (default): the item is unpublished and deleted');
# (an item that stays gives its slug up for "<slug>-<item id>", so that a
# new row may take the slug)
($it) = grep { $_->{id} eq $before{unpublish_only}{id} } @{ fake_items($JOBS) };
ok($it && !$it->{isLive} && $it->{isDraft},
	'on_delete unpublish_only: the item stays, unpublished (a draft, not live)');
is($it && $it->{fieldData}{slug}, "$slug{unpublish_only}-$before{unpublish_only}{id}",
	'and gives its slug up');
($it) = grep { $_->{id} eq $before{archive}{id} } @{ fake_items($JOBS) };
ok($it && $it->{isArchived}, 'on_delete archive: the item stays, archived');
is($it && $it->{fieldData}{slug}, "$slug{archive}-$before{archive}{id}", 'and gives its slug up');
$it = item($JOBS, $slug{ignore});
ok($it && $it->{isLive} && !$it->{isArchived} && $it->{lastUpdated} eq $before{ignore}{lastUpdated},
	'on_delete ignore: the live item is left untouched');
is_deeply([ sort @{ requests_since($seq) } ],
	[ sort "DELETE /v2/collections/$JOBS/items/live (1)", "DELETE /v2/collections/$JOBS/items/live (1)",
		"DELETE /v2/collections/$JOBS/items (1)", "PATCH /v2/collections/$JOBS/items/live (1)",
		"PATCH /v2/collections/$JOBS/items (1)" ],
	'requests: two unpublishes, one delete, one archiving PATCH, the draft\'s slug, nothing for ignore');

# the same rows come back
$seq = fake_log_seq();
sql(q{INSERT INTO del_unpublish_only VALUES (12, 'Delete unpublish_only');
      INSERT INTO del_archive VALUES (13, 'Delete archive');});
drain();
note(join("\n", 're-insert requests:', @{ requests_since($seq) }));
is(scalar(grep { ($_->{fieldData}{slug} // '') =~ /^delete-(unpublish-only|archive)/ } @{ fake_items($JOBS) }),
	2, 're-inserted rows reuse their unpublished or archived items: no duplicates');
$it = item($JOBS, $slug{unpublish_only});
ok($it && $it->{isLive}, 'the re-inserted row of unpublish_only is live again');
$it = item($JOBS, $slug{archive});
ok($it && !$it->{isArchived} && $it->{isLive}, 'the re-inserted row of archive is unarchived and live');
is(sql(q{SELECT count(*) FROM webflow.outbox}), '0', 'nothing left in the outbox');

# ---- live = false: staged items, drafts included
sql(qq{
CREATE TABLE staged (id int PRIMARY KEY, name text NOT NULL, department text, hidden boolean NOT NULL DEFAULT false);
SELECT webflow.bind('staged', '$JOBS', '{"live": false, "draft": "hidden"}');
INSERT INTO staged VALUES (21, 'Staged Visible', 'S', false), (22, 'Staged Draft', 'S', true);
});
$seq = fake_log_seq();
drain();
is_deeply(requests_since($seq), ["POST /v2/collections/$JOBS/items (2)"],
	'live = false creates through Create Items (staged), not the live endpoint');
my $visible = item($JOBS, 'staged-visible');
my $draft   = item($JOBS, 'staged-draft');
ok($visible && !$visible->{isLive} && !$visible->{isDraft}, 'a staged item, not live, not a draft');
ok($draft && !$draft->{isLive} && $draft->{isDraft}, 'the row with hidden = true is a staged draft');
ok(!exists(($draft // {})->{fieldData}{hidden}), 'the draft column is a flag, not a field');
$seq = fake_log_seq();
sql(q{UPDATE staged SET department = 'S2' WHERE id = 21; DELETE FROM staged WHERE id = 22;});
drain();
is_deeply([ sort @{ requests_since($seq) } ],
	[ "DELETE /v2/collections/$JOBS/items (1)", "PATCH /v2/collections/$JOBS/items (1)" ],
	'live = false updates and deletes staged items (no live endpoint)');
is(item($JOBS, 'staged-visible')->{fieldData}{department}, 'S2', 'the staged item was updated');
ok(!item($JOBS, 'staged-draft'), 'the staged draft was deleted');

# ---- batching with webflow.batch_size = 10
sql(q{ALTER SYSTEM SET webflow.batch_size = 10; SELECT pg_reload_conf();});
ok(wait_for($node, q{SHOW webflow.batch_size}, '10', 10), 'webflow.batch_size is 10');
sql(q{INSERT INTO jobs (id, name) SELECT 1000 + i, 'Batch job ' || i FROM generate_series(1, 95) AS i});
$seq = fake_log_seq();
is(drain(), '95', 'drain() completes the 95 rows');
is_deeply([ map { $_->{items_in_body} } @{ api_requests($seq, 'POST') } ],
	[ (10) x 9, 5 ], 'they went in requests of 10 items (9 x 10 + 5)');
sql(q{ALTER SYSTEM RESET webflow.batch_size; SELECT pg_reload_conf();});
ok(wait_for($node, q{SHOW webflow.batch_size}, '100', 10), 'webflow.batch_size is back to 100');

# ---- references between two bound tables
sql(qq{
CREATE TABLE authors (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE books (id int PRIMARY KEY, name text NOT NULL, author_id int);
SELECT webflow.bind('books', '$BOOKS', '{"fields": {"author_id": "author"}}');
SELECT webflow.bind('authors', '$AUTHORS');
BEGIN;
INSERT INTO authors VALUES (1, 'Ford Prefect');
INSERT INTO books VALUES (1, 'Guide Entries', 1);
COMMIT;
});
my $t0 = time;
my $drains = 0;
ok(wait_until(sub { $drains++; drain(); item($BOOKS, 'guide-entries') }, 15, 0.2),
	'a book and its author written in one transaction both reach Webflow');
note(sprintf('the book needed %d drain() call(s), %.1f s', $drains, time - $t0));
my $author = item($AUTHORS, 'ford-prefect');
my $book   = item($BOOKS, 'guide-entries');
ok($author && $author->{isLive}, 'the author is live');
is($book && $book->{fieldData}{author}, $author && $author->{id},
	'the book\'s author field is the author\'s Webflow item id');
ok(!exists(($book // {})->{fieldData}{'author-id'}), 'the author_id column went to the author field only');

# the same in a single drain() call: a pass sends referenced rows first
sql(q{
BEGIN;
INSERT INTO authors VALUES (2, 'Zaphod Beeblebrox');
INSERT INTO books VALUES (2, 'Two Heads', 2);
COMMIT;
});
drain();
ok(item($BOOKS, 'two-heads'), 'one drain() publishes an author and a book referencing it');
ok(wait_until(sub { drain(); item($BOOKS, 'two-heads') }, 15, 0.3), 'the second book arrives after a retry');

# ---- a writer with INSERT only, no rights on schema webflow
sql(q{
REVOKE ALL ON SCHEMA webflow FROM PUBLIC;
CREATE ROLE writer LOGIN;
GRANT INSERT ON jobs TO writer;
});
my ($out, $err);
$node->psql('postgres', q{INSERT INTO jobs (id, name) VALUES (2000, 'Written By Writer')},
	stdout => \$out, stderr => \$err, extra_params => [ '-U', 'writer' ]);
is($err, '', 'a user with only INSERT on a bound table can insert');
$node->psql('postgres', q{SELECT count(*) FROM webflow.outbox},
	stdout => \$out, stderr => \$err, extra_params => [ '-U', 'writer' ]);
like($err, qr/permission denied for schema webflow/, 'that user cannot read the outbox');
drain();
ok(item($JOBS, 'written-by-writer'), 'the row inserted by that user is published');

# ---- only the owner binds
sql(qq{
CREATE ROLE alice LOGIN;
GRANT USAGE ON SCHEMA webflow TO alice;
GRANT EXECUTE ON FUNCTION webflow.bind(regclass, text, jsonb) TO alice;
CREATE TABLE alice_jobs (id int PRIMARY KEY, name text);
ALTER TABLE alice_jobs OWNER TO alice;
CREATE TABLE not_alices (id int PRIMARY KEY, name text);
});
$node->psql('postgres', qq{SELECT webflow.bind('not_alices', '$JOBS')},
	stdout => \$out, stderr => \$err, extra_params => [ '-U', 'alice' ]);
like($err, qr/must be owner of table (public\.)?not_alices/, 'a user may not bind a table she does not own');
$node->psql('postgres', qq{SELECT webflow.bind('alice_jobs', '$JOBS')},
	stdout => \$out, stderr => \$err, extra_params => [ '-U', 'alice' ]);
unlike($err, qr/must be owner/, 'the table owner passes the owner check');
like($err, qr/Webflow collection \w+ belongs to role postgres/,
	'but may not feed a collection that tables of another role feed');
is(sql(q{SELECT count(*) FROM webflow.bindings
         WHERE source::text IN ('alice_jobs', 'not_alices')}), '0',
	'neither table is bound');

# ---- sync() queues only rows that differ
sql(qq{
CREATE TABLE tag_src (id int PRIMARY KEY, name text NOT NULL, description text);
INSERT INTO tag_src VALUES (1, 'Tag One', 'first'), (2, 'Tag Two', 'second'), (3, 'Tag Three', 'third');
SELECT webflow.bind('tag_src', '$TAGS');
});
is(outbox_count(), '0', 'binding a table with rows queues nothing by itself');
is(sql(q{SELECT webflow.sync('tag_src')}), '3', 'sync() of a new binding queues its three rows');
drain();
is(scalar(grep { ($_->{fieldData}{slug} // '') =~ /^tag-(one|two|three)$/ } @{ fake_items($TAGS) }),
	3, 'the three rows are at Webflow');
is(sql(q{SELECT webflow.sync('tag_src')}), '0', 'sync() right after queues nothing: Webflow has every row');
# changes Webflow does not know of (triggers off)
sql(q{
SET session_replication_role = replica;
UPDATE tag_src SET description = 'changed behind its back' WHERE id = 1;
INSERT INTO tag_src VALUES (4, 'Tag Four', 'fourth');
DELETE FROM tag_src WHERE id = 3;
});
is(outbox_count(), '0', 'with triggers off the changes were not queued');
is(sql(q{SELECT webflow.sync('tag_src')}), '3',
	'sync() queues exactly the changed row, the new row and the deleted row');
drain();
is(item($TAGS, 'tag-one')->{fieldData}{description}, 'changed behind its back', 'the changed row is updated');
ok(item($TAGS, 'tag-four'), 'the new row is created');
ok(!item($TAGS, 'tag-three'), 'the deleted row\'s item is gone');
ok(item($TAGS, 'science-fiction'), 'items of the collection that no row fed are left alone');
is(sql(q{SELECT webflow.sync('tag_src')}), '0', 'and sync() is quiet again');

# ---- retry()
sql(q{ALTER SYSTEM SET webflow.max_attempts = 1; SELECT pg_reload_conf();});
ok(wait_for($node, q{SHOW webflow.max_attempts}, '1', 10), 'webflow.max_attempts is 1');
fake_fault({ match => { method => 'POST', path => "/collections/$TAGS/items" }, status => 500, count => 1 });
sql(q{INSERT INTO tag_src VALUES (5, 'Tag Five', 'fifth')});
drain();
is(sql(q{SELECT state || ' ' || attempts || ' ' || last_status FROM webflow.outbox}), 'failed 1 500',
	'a row that got a 500 with max_attempts = 1 is failed');
like(sql(q{SELECT last_error FROM webflow.outbox}), qr/HTTP 500.*An Internal Error occurred/,
	'its last_error has Webflow\'s answer');
is(sql(q{SELECT failed FROM webflow.status WHERE source = 'tag_src'::regclass}), '1',
	'webflow.status counts it as failed');
is(sql(q{SELECT webflow.retry()}), '1', 'retry() requeues the failed row');
is(sql(q{SELECT state || ' ' || attempts FROM webflow.outbox}), 'pending 0',
	'it is pending again, with its attempts reset');
drain();
ok(item($TAGS, 'tag-five'), 'the requeued row is published');
is(sql(q{SELECT failed || '/' || pending FROM webflow.status WHERE source = 'tag_src'::regclass}), '0/0',
	'nothing failed or pending any more');
sql(q{ALTER SYSTEM RESET webflow.max_attempts; SELECT pg_reload_conf();});

# ---- a partitioned table
sql(qq{
CREATE TABLE pjobs (id int, region text, name text NOT NULL, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE pjobs_eu PARTITION OF pjobs FOR VALUES IN ('eu');
CREATE TABLE pjobs_us PARTITION OF pjobs FOR VALUES IN ('us');
SELECT webflow.bind('pjobs', '$JOBS', '{"exclude": ["region"]}');
INSERT INTO pjobs VALUES (1, 'eu', 'Part EU One'), (2, 'us', 'Part US Two');
});
is(drain(), '2', 'rows inserted into two partitions of a bound partitioned table are drained');
ok(item($JOBS, 'part-eu-one') && item($JOBS, 'part-us-two'), 'and published');
is(sql(q{SELECT string_agg(source_key, ',' ORDER BY source_key) FROM webflow.items WHERE source_key LIKE '[%'}),
	'[1, "eu"],[2, "us"]', 'webflow.items keys them by the composite primary key');
is(sql(q{SELECT string_agg(source::text, ',') FROM webflow.status WHERE source::text LIKE 'pjobs%'}),
	'pjobs', 'webflow.status shows the bound table, not its partitions');
sql(q{SELECT webflow.unbind('pjobs')});
is(sql(q{SELECT count(*) FROM webflow.bindings WHERE source::text LIKE 'pjobs%'}), '0',
	'unbind() of the partitioned table leaves no binding behind');

# ---- two tables feeding one collection, with the same row keys
# Each row is its own item: the item map must not mix up rows of different
# tables that happen to have the same key.
sql(qq{
CREATE TABLE multi_a (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE multi_b (id int PRIMARY KEY, name text NOT NULL);
SELECT webflow.bind('multi_a', '$JOBS');
SELECT webflow.bind('multi_b', '$JOBS');
INSERT INTO multi_a VALUES (7, 'Multi A Seven');
});
drain();
ok(item($JOBS, 'multi-a-seven'), 'a row of the first table is published');
TODO:
{
	# BUG: webflow.items is keyed by (collection_id, source_key), so rows of two
	# tables bound to one collection with the same key share one item map
	# entry: the second row overwrites the first one's item.
	local $TODO = 'bug: the item map does not tell apart rows of two tables bound to one collection';
	sql(q{INSERT INTO multi_b VALUES (7, 'Multi B Seven')});
	drain();
	ok(item($JOBS, 'multi-a-seven') && item($JOBS, 'multi-b-seven'),
		'a row of another table bound to the same collection, with the same key, is a second item');
}
sql(q{INSERT INTO multi_a VALUES (8, 'Multi A Eight'); INSERT INTO multi_b VALUES (8, 'Multi B Eight');});
$node->psql('postgres', 'SELECT webflow.drain()', stdout => \$out, stderr => \$err);
is($err, '', 'drain() of two tables\' rows with the same key in one pass works');
TODO:
{
	local $TODO = 'bug: the item map does not tell apart rows of two tables bound to one collection';
	sql(q{DELETE FROM multi_b WHERE id = 7});
	$node->psql('postgres', 'SELECT webflow.drain()', stdout => \$out, stderr => \$err);
	ok(item($JOBS, 'multi-a-seven') && !item($JOBS, 'multi-b-seven'),
		'deleting the second table\'s row leaves the first table\'s item alone');
}
ok(item($JOBS, 'multi-a-eight') && item($JOBS, 'multi-b-eight'), 'both rows with key 8 have an item');

$node->stop;
done_testing();
