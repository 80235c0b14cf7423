# t/030_publish_basic.pl: rows of a bound table reach the local Webflow,
# end to end through the background worker.
#
# Proves: the two jobs of shared/seed/create-live-items.txt inserted into a
# bound table appear live at the fake within seconds; a commit wakes the
# worker at once (one insert arrives in < 1 s although webflow.naptime is
# 60 s); an UPDATE becomes a PATCH that changes the value (without resending
# the unchanged slug); a DELETE unpublishes then deletes the item;
# webflow.status and webflow.items tell the truth afterwards.  Then 5,000-row
# INSERT, UPDATE and DELETE statements: every row reaches the fake exactly
# once, in requests of at most 100 items, about 100 on average.  Last, the
# worker talks to the fake through the Prism proxy that validates every
# request against Webflow's OpenAPI spec (skipped when Prism is missing):
# inserts, updates and deletes of 250 rows all pass it.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use List::Util qw(max sum);
use FindBin;
use lib $FindBin::RealBin;
use WebflowTest;

my %env = start_fake(prism => 1);
my $node = new_node('publish_basic', 'webflow.naptime' => "'60s'");

$node->safe_psql('postgres', qq{
CREATE TABLE jobs (id serial PRIMARY KEY, name text NOT NULL, url text, department text);
SELECT webflow.bind('jobs', '$JOBS');
});
is($node->safe_psql('postgres',
		"SELECT count(*) FROM webflow.bindings WHERE source = 'jobs'::regclass AND collection_id = '$JOBS'"),
	'1', 'bind() records the binding of table jobs to the Jobs collection');

# by live slug: the item of each slug at the fake
sub jobs_by_slug
{
	my %by;
	for my $item (@{ fake_items($JOBS) })
	{
		push @{ $by{ $item->{fieldData}{slug} } }, $item;
	}
	return \%by;
}

# ---- the two jobs of the seed file
my $seq = fake_log_seq();
my $t0  = time;
$node->safe_psql('postgres', q{
INSERT INTO jobs (name, url, department) VALUES
    ('Senior Data Analyst', 'https://boards.greenhouse.io/webflow/jobs/26567701', 'Data'),
    ('Product Manager', 'https://boards.greenhouse.io/webflow/jobs/31234567', 'Product');
});
ok(wait_until(sub { scalar(@{ fake_live_items($JOBS) }) == 2 }, 10, 0.05),
	'the two inserted jobs are live at Webflow');
my $elapsed = time - $t0;
cmp_ok($elapsed, '<', 5, sprintf('they arrived within a few seconds (%.2f s)', $elapsed));

my $by = jobs_by_slug();
is_deeply(
	{ map { $_ => $by->{$_}[0]{liveFieldData} } keys %$by },
	{
		'senior-data-analyst' => {
			name => 'Senior Data Analyst', slug => 'senior-data-analyst',
			url => 'https://boards.greenhouse.io/webflow/jobs/26567701', department => 'Data' },
		'product-manager' => {
			name => 'Product Manager', slug => 'product-manager',
			url => 'https://boards.greenhouse.io/webflow/jobs/31234567', department => 'Product' },
	},
	'the live items carry the rows\' values (name, slug from the name, url, department; no id)');
my $creates = api_requests($seq, 'POST', qr{^/v2/collections/$JOBS/items/live$});
is(scalar(@$creates), 1, 'both jobs were created in one request to Create Live Items');

# ---- latency: the commit wakes the worker, not the 60 s naptime
ok(wait_for($node, q{SELECT webflow.worker_status()->>'state'}, 'idle', 10),
	'the worker is idle before the latency check');
sleep(0.3);
$t0 = time;
$node->safe_psql('postgres',
	q{INSERT INTO jobs (name, url, department) VALUES ('Latency Probe', 'https://example.com/probe', 'QA')});
my $seen = wait_until(sub { exists jobs_by_slug()->{'latency-probe'} }, 5, 0.02);
$elapsed = time - $t0;
ok($seen, 'a single inserted row arrives at Webflow');
cmp_ok($elapsed, '<', 1.0,
	sprintf('it arrives in under a second with webflow.naptime = 60s (%.3f s incl. psql start)', $elapsed));

# ---- update: a PATCH that changes the value
$seq = fake_log_seq();
$node->safe_psql('postgres',
	q{UPDATE jobs SET department = 'Analytics' WHERE name = 'Senior Data Analyst'});
ok(wait_until(sub {
			my $i = jobs_by_slug()->{'senior-data-analyst'};
			$i && ($i->[0]{liveFieldData}{department} // '') eq 'Analytics';
		}, 10, 0.05),
	'an UPDATE changes the live item\'s value at Webflow');
my $patches = api_requests($seq, 'PATCH', qr{^/v2/collections/$JOBS/items/live$});
is(scalar(@$patches), 1, 'the update was sent as one PATCH to Update Live Items');
is(scalar(@{ api_requests($seq, 'POST') }), 0, 'the update created no item');
my $patched = $patches->[0]{body}{items}[0] // {};
is($patched->{id}, jobs_by_slug()->{'senior-data-analyst'}[0]{id},
	'the PATCH names the mapped item id');
ok(!exists $patched->{fieldData}{slug}, 'the PATCH leaves out the unchanged slug');
is(scalar(@{ jobs_by_slug()->{'senior-data-analyst'} }), 1, 'still one item for the updated row');

# ---- delete: unpublished, then deleted
$seq = fake_log_seq();
$node->safe_psql('postgres', q{DELETE FROM jobs WHERE name = 'Product Manager'});
ok(wait_until(sub { !exists jobs_by_slug()->{'product-manager'} }, 10, 0.05),
	'a DELETE removes the item from the collection');
my @deletes = map { "$_->{method} $_->{path}" } @{ api_requests($seq) };
is_deeply(\@deletes,
	[ "DELETE /v2/collections/$JOBS/items/live", "DELETE /v2/collections/$JOBS/items" ],
	'the delete first unpublished the live item, then deleted it');

# ---- status and item map
ok(wait_for($node, q{SELECT pending || '/' || sending || '/' || failed || '/' || (last_success IS NOT NULL)
                     FROM webflow.status WHERE source = 'jobs'::regclass}, '0/0/0/true', 10),
	'webflow.status shows nothing pending, sending or failed, and a last success');
is($node->safe_psql('postgres', q{SELECT count(*) FROM webflow.outbox}), '0',
	'the outbox is empty');
$by = jobs_by_slug();
is($node->safe_psql('postgres', qq{
SELECT string_agg(j.name || '=' || i.item_id, ',' ORDER BY j.id)
FROM jobs j JOIN webflow.items i ON i.collection_id = '$JOBS' AND i.source_key = j.id::text}),
	join(',', map { "$_->[0]=$_->[1]" }
		  (['Senior Data Analyst', $by->{'senior-data-analyst'}[0]{id}],
			['Latency Probe', $by->{'latency-probe'}[0]{id}])),
	'webflow.items maps each row key to its Webflow item id');
is($node->safe_psql('postgres', "SELECT count(*) FROM webflow.items WHERE collection_id = '$JOBS'"),
	'2', 'the deleted row\'s item left webflow.items');

# ---- 5,000 rows in one statement each
my $n = 5000;

# check_requests(LOG, WHAT): at most 100 items per request, about 100 each
sub check_requests
{
	my ($reqs, $what) = @_;
	my @sizes = map { $_->{items_in_body} // 0 } @$reqs;
	is(sum(0, @sizes), $n, "$what: $n items sent in all, each once");
	cmp_ok(max(0, @sizes), '<=', 100, "$what: no request carries more than 100 items");
	my $mean = @sizes ? sum(@sizes) / @sizes : 0;
	cmp_ok($mean, '>=', 99, sprintf("$what: %.1f items per request on average", $mean));
}

$seq = fake_log_seq();
$t0  = time;
$node->safe_psql('postgres', qq{
INSERT INTO jobs (name, url, department)
SELECT 'Bulk job ' || i, 'https://example.com/jobs/' || i, 'Dept ' || (i % 7)
FROM generate_series(1, $n) AS i;
});
ok(wait_fake_items($JOBS, $n + 2, 90), "a $n-row INSERT ... SELECT arrives at Webflow");
note(sprintf('%d rows created in %.1f s', $n, time - $t0));
$by = jobs_by_slug();
my @bulk = grep { /^bulk-job-/ } keys %$by;
is(scalar(@bulk), $n, "$n distinct slugs at the fake");
is(scalar(grep { @{ $by->{$_} } != 1 } keys %$by), 0, 'no slug twice: no duplicates');
is(join(',', sort map { $by->{$_}[0]{liveFieldData}{name} } @bulk),
	join(',', sort split /\n/,
		$node->safe_psql('postgres', q{SELECT name FROM jobs WHERE name LIKE 'Bulk job %'})),
	'the live items are exactly the table\'s rows');
check_requests(api_requests($seq, 'POST', qr{^/v2/collections/$JOBS/items/live$}), 'INSERT');
ok(wait_for($node, qq{SELECT count(*) FROM webflow.items WHERE collection_id = '$JOBS'},
		$n + 2, 10),
	'webflow.items maps every row');

$seq = fake_log_seq();
$node->safe_psql('postgres',
	q{UPDATE jobs SET department = 'Updated ' || id WHERE name LIKE 'Bulk job %'});
ok(wait_until(sub {
			my $items = fake_items($JOBS);
			$n == grep { ($_->{liveFieldData}{department} // '') =~ /^Updated / } @$items;
		}, 90, 0.5),
	"a $n-row UPDATE changes every live item");
$by = jobs_by_slug();
is(scalar(keys %$by), $n + 2, 'the UPDATE created no item');
my %dept = map { my @r = split /\|/; ($r[0] => $r[1]) } split /\n/,
  $node->safe_psql('postgres', q{SELECT name || '|' || department FROM jobs WHERE name LIKE 'Bulk job %'});
is(scalar(grep { ($dept{ $by->{$_}[0]{liveFieldData}{name} } // '') ne $by->{$_}[0]{liveFieldData}{department} } @bulk),
	0, 'each item has its own row\'s new value');
check_requests(api_requests($seq, 'PATCH', qr{^/v2/collections/$JOBS/items/live$}), 'UPDATE');
is(scalar(@{ api_requests($seq, 'POST') }), 0, 'the UPDATE sent no create');

$seq = fake_log_seq();
$node->safe_psql('postgres', q{DELETE FROM jobs WHERE name LIKE 'Bulk job %'});
ok(wait_fake_items($JOBS, 2, 90), "a $n-row DELETE removes every item");
check_requests(api_requests($seq, 'DELETE', qr{^/v2/collections/$JOBS/items/live$}),
	'DELETE (unpublish)');
check_requests(api_requests($seq, 'DELETE', qr{^/v2/collections/$JOBS/items$}),
	'DELETE (delete)');
ok(wait_for($node, qq{SELECT count(*) FROM webflow.items WHERE collection_id = '$JOBS'}, '2', 10),
	'webflow.items forgot the deleted rows');
ok(wait_for($node, q{SELECT pending || '/' || sending || '/' || failed FROM webflow.status},
		'0/0/0', 10),
	'webflow.status: 0 pending, 0 sending, 0 failed at the end');

# ---- through the spec-validating proxy
SKIP:
{
	skip 'Prism is not available', 6 unless $env{WEBFLOW_PRISM_URL};
	$node->safe_psql('postgres', qq{
ALTER SYSTEM SET webflow.api_url = '$env{WEBFLOW_PRISM_URL}';
SELECT pg_reload_conf();
});
	ok(wait_for($node, q{SELECT current_setting('webflow.api_url')}, $env{WEBFLOW_PRISM_URL}, 10),
		'the API URL now points at the spec proxy');
	sleep(0.5);    # the worker reloads on its next wake; the insert wakes it
	$seq = fake_log_seq();
	$node->safe_psql('postgres', q{
INSERT INTO jobs (name, url, department)
SELECT 'Spec job ' || i, 'https://example.com/spec/' || i, 'Spec' FROM generate_series(1, 250) AS i;
});
	ok(wait_fake_items($JOBS, 252, 60), '250 rows created through the spec proxy arrive');
	$node->safe_psql('postgres', q{UPDATE jobs SET department = 'Spec updated' WHERE name LIKE 'Spec job %'});
	ok(wait_until(sub {
				250 == grep { ($_->{liveFieldData}{department} // '') eq 'Spec updated' }
				  @{ fake_items($JOBS) };
			}, 60, 0.5),
		'250 rows updated through the spec proxy arrive');
	$node->safe_psql('postgres', q{DELETE FROM jobs WHERE name LIKE 'Spec job %'});
	ok(wait_fake_items($JOBS, 2, 60), '250 rows deleted through the spec proxy are gone');
	my @bad = grep { $_->{status} && $_->{status} >= 400 } @{ fake_log($seq) };
	is(scalar(@bad), 0, 'the fake answered no request with an error');
	ok(wait_for($node, q{SELECT pending || '/' || failed || '/' || coalesce(last_error, '') FROM webflow.status},
			'0/0/', 10),
		'nothing pending or failed, and no error recorded, after the proxy run');
}

$node->stop;
done_testing();
