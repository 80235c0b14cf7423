# t/051_failover.pl: with PostgreSQL's streaming replication, only the
# primary publishes, and a promoted standby publishes what the old primary
# left, exactly once.
#
# Proves, each part on a fresh primary + standby (made from a base backup,
# both with webflow preloaded):
#  1. Rows queued on a primary whose worker is off reach the standby; there
#     the worker does not run (webflow.worker_status() shows no pid, no
#     "webflow worker" in pg_stat_activity) and nothing is sent for several
#     naptimes while webflow.status and the outbox show the rows pending;
#     webflow.drain() on the standby fails, saying why, and sends nothing.
#     The primary is stopped -m immediate, the standby promoted: its worker
#     starts and publishes every row once (as many items as rows, no slug
#     twice, each item created in one request only).
#  2. The primary's worker is sending when the primary dies: its create of
#     100 items has reached Webflow (the fake made them and holds the answer
#     back), all 120 claimed rows are "sending", and that much has reached
#     the standby.  After promotion the new primary takes the rows up as
#     maybe sent, finds the 100 items by slug instead of creating them
#     again, creates the 20 others, and ends with one item per row.
#  3. The primary's create was processed but its connection dropped (the
#     outcome is unknown, the rows are pending and marked maybe sent), and
#     the primary dies while it looks an item up by slug.  After promotion the new
#     primary adopts the 30 items without sending a single create.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use JSON::PP;
use FindBin;
use lib $FindBin::RealBin;
use WebflowTest;

my %env = start_fake();

# new_primary(NAME, setting => value): a started primary that allows
# streaming, with webflow preloaded and created in database postgres
sub new_primary
{
	my ($name, %extra) = @_;
	my %conf = (
		shared_preload_libraries => "'webflow'",
		'webflow.token'          => "'test-token'",
		'webflow.api_url'        => "'$env{WEBFLOW_FAKE_URL}'",
		'webflow.naptime'        => "'1s'",
		'webflow.rate_limit'     => 100000,
		log_min_messages         => 'warning',
		max_worker_processes     => 16,
		%extra);
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(allows_streaming => 1);
	$node->append_conf('postgresql.conf',
		join('', map { "$_ = $conf{$_}\n" } sort keys %conf));
	$node->start;
	$node->safe_psql('postgres', qq{
CREATE EXTENSION webflow;
CREATE TABLE jobs (id int PRIMARY KEY, name text NOT NULL, department text);
SELECT webflow.bind('jobs', '$JOBS');
});
	return $node;
}

# new_standby(PRIMARY, NAME, setting => value): a started streaming standby
# made from a base backup of PRIMARY
sub new_standby
{
	my ($primary, $name, %conf) = @_;
	$primary->backup("${name}_backup");
	my $standby = PostgreSQL::Test::Cluster->new($name);
	$standby->init_from_backup($primary, "${name}_backup", has_streaming => 1);
	$standby->append_conf('postgresql.conf', join('', map { "$_ = $conf{$_}\n" } sort keys %conf))
	  if %conf;
	$standby->start;
	return $standby;
}

# new_items(FIXTURE): the Jobs items at the fake that were not there before
sub new_items
{
	my ($fixture) = @_;
	return [ grep { !$fixture->{ $_->{id} } } @{ fake_items($JOBS) } ];
}

# created_since(SEQ): how many items the create requests since SEQ carried
sub created_since
{
	my ($seq) = @_;
	my $n = 0;
	$n += $_->{items_in_body} // 0
	  for @{ api_requests($seq, 'POST', qr{^/v2/collections/$JOBS/items(/live)?$}) };
	return $n;
}

# published_once(NODE, FIXTURE, ROWS, WHAT): the checks that every row of
# jobs on NODE is one live item at the fake, and nothing more
sub published_once
{
	my ($node, $fixture, $rows, $what) = @_;
	my $items = new_items($fixture);
	my %slugs;
	$slugs{ $_->{fieldData}{slug} }++ for @$items;
	is(scalar(@$items), $rows, "$what: $rows items at Webflow for $rows rows");
	is(scalar(grep { $slugs{$_} > 1 } keys %slugs), 0, "$what: no slug twice");
	is(scalar(grep { !$_->{isLive} } @$items), 0, "$what: every item is live");
	my %by_id = map { $_->{id} => $_ } @$items;
	my $map = $node->safe_psql('postgres', q{
SELECT string_agg(j.name || '=' || coalesce(i.item_id, '?'), E'\n' ORDER BY j.id)
FROM jobs j LEFT JOIN webflow.items i
  ON i.collection_id = '580e63fc8c9a982ac9b8b745' AND i.source_key = j.id::text});
	my @bad = grep {
		my ($name, $id) = split /=/;
		!$by_id{$id} || $by_id{$id}{fieldData}{name} ne $name
	} split /\n/, $map;
	is(scalar(@bad), 0, "$what: webflow.items maps each row to its own item")
	  or diag('first mismatches: ' . join(', ', @bad[ 0 .. ($#bad > 4 ? 4 : $#bad) ]));
	is($node->safe_psql('postgres',
			q{SELECT pending || '/' || sending || '/' || failed FROM webflow.status}),
		'0/0/0', "$what: webflow.status shows nothing pending, sending or failed");
}

# ------------------------------------------------------------------------
# 1. the standby does not send; after promotion it publishes every row once
fake_reset();
my %fixture = map { $_->{id} => 1 } @{ fake_items($JOBS) };
my $primary = new_primary('primary', 'webflow.worker_enabled' => 'off');
my $standby = new_standby($primary, 'standby', 'webflow.worker_enabled' => 'on');
my $rows = 300;
my $seq0 = fake_log_seq();
$primary->safe_psql('postgres', qq{
INSERT INTO jobs SELECT i, 'Failover job ' || i, 'Dept ' || (i % 5) FROM generate_series(1, $rows) i});
$primary->wait_for_catchup($standby);

is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'the standby is in recovery');
is($standby->safe_psql('postgres', q{SELECT count(*) FROM webflow.outbox WHERE state = 'pending'}),
	$rows, "the standby has the $rows queued rows, pending");
sleep(3.5);    # three naptimes and more: a worker would have woken
my $ws = worker_status($standby);
ok(!defined $ws->{pid}, 'webflow.worker_status() on the standby shows no worker pid')
  or diag(encode_json($ws));
is($ws->{state}, 'not running', 'and says the worker is not running');
is($standby->safe_psql('postgres',
		q{SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'webflow worker'}),
	'0', 'no webflow worker in pg_stat_activity on the standby');
is($standby->safe_psql('postgres', 'SELECT pending || \'/\' || sending || \'/\' || failed FROM webflow.status'),
	"$rows/0/0", 'webflow.status on the standby shows the rows pending');
my ($rc, $out, $err) = $standby->psql('postgres', 'SELECT webflow.drain()');
isnt($rc, 0, 'webflow.drain() on the standby fails');
like($err, qr/standby|read-only|recovery/, '... with an error that says the server is a standby');
is(scalar(@{ fake_log($seq0) }), 0, 'nothing at all was sent to Webflow before the promotion');

$primary->stop('immediate');
$standby->promote;
is($standby->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 'f', 'the standby is promoted');
ok(wait_until(sub { worker_pid($standby) ne '' }, 15, 0.1),
	'the worker starts on the promoted standby');
ok(wait_for($standby, 'SELECT count(*) FROM webflow.outbox', '0', 60),
	'the promoted standby drains the outbox');
is(created_since($seq0), $rows, "the create requests carried $rows items: each row was created once");
published_once($standby, \%fixture, $rows, 'after promotion');
$standby->stop;

# ------------------------------------------------------------------------
# 2. the primary dies while its create is in flight (already done at Webflow)
fake_reset();
%fixture = map { $_->{id} => 1 } @{ fake_items($JOBS) };
$primary = new_primary('primary2');
$standby = new_standby($primary, 'standby2');
$rows = 120;
# the first create request (100 items) is processed at once, answered 20 s later
fake_fault({ match => { method => 'POST', path => "/collections/$JOBS/items" },
		delay_ms => 20000, process => JSON::PP::true, name => 'slow create' });
$seq0 = fake_log_seq();
$primary->safe_psql('postgres', qq{
INSERT INTO jobs SELECT i, 'In flight job ' || i, 'Dept' FROM generate_series(1, $rows) i});
ok(wait_until(sub { @{ new_items(\%fixture) } == 100 }, 15, 0.1),
	'the primary\'s first create request made 100 items at Webflow');
ok(wait_for($primary, q{SELECT count(*) FROM webflow.outbox WHERE state = 'sending'}, $rows, 10),
	"the primary has claimed all $rows rows (sending) and waits for the answer");
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', q{SELECT count(*) FROM webflow.outbox WHERE state = 'sending'}),
	$rows, 'the standby has the rows as sending');
$primary->stop('immediate');
fake_clear_faults();
my $seq1 = fake_log_seq();
$standby->promote;
ok(wait_for($standby, 'SELECT count(*) FROM webflow.outbox', '0', 60),
	'the promoted standby drains the outbox');
is(created_since($seq1), $rows - 100,
	'after promotion only the 20 items never sent were created: the 100 were found by slug');
published_once($standby, \%fixture, $rows, 'crash while sending');
$standby->stop;

# ------------------------------------------------------------------------
# 3. the primary's create was done but its answer lost; it dies looking up
fake_reset();
%fixture = map { $_->{id} => 1 } @{ fake_items($JOBS) };
$primary = new_primary('primary3');
$standby = new_standby($primary, 'standby3');
$rows = 30;
fake_fault([
		{ match => { method => 'POST', path => "/collections/$JOBS/items" },
			drop => JSON::PP::true, process => JSON::PP::true, name => 'create dropped' },
		{ match => { method => 'GET', path => "/collections/$JOBS/items" },
			delay_ms => 8000, status => 503, name => 'slow lookup' } ]);
$seq0 = fake_log_seq();
$primary->safe_psql('postgres', qq{
INSERT INTO jobs SELECT i, 'Unknown outcome job ' || i, 'Dept' FROM generate_series(1, $rows) i});
ok(wait_until(sub { @{ new_items(\%fixture) } == $rows }, 15, 0.1),
	"the primary's create made $rows items at Webflow (its connection then dropped)");
# (each row retries after its own jittered backoff: the first one due is
# being looked up, the others wait)
ok(wait_for($primary, q{SELECT count(*) FILTER (WHERE maybe_sent) || '/' || bool_or(state = 'sending')
                        FROM webflow.outbox}, "$rows/true", 15),
	'the primary marked the rows maybe sent and is looking one up');
$primary->wait_for_catchup($standby);
is($standby->safe_psql('postgres', q{SELECT count(*) FROM webflow.outbox WHERE maybe_sent}),
	$rows, 'the standby has the rows marked maybe sent');
$primary->stop('immediate');
fake_clear_faults();
$seq1 = fake_log_seq();
$standby->promote;
ok(wait_for($standby, 'SELECT count(*) FROM webflow.outbox', '0', 60),
	'the promoted standby drains the outbox');
is(created_since($seq1), 0, 'after promotion no create was sent: the items were adopted');
published_once($standby, \%fixture, $rows, 'unknown outcome then crash');
$standby->stop;

done_testing();
