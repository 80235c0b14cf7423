# t/033_publish_crash.pl: the worker dies, or the server stops, in the middle
# of a batch, and nothing is lost or duplicated.
#
# With webflow.rate_limit = 120 (one request every 0.5 s) a backlog of 1,000
# rows takes about 5 s to drain, so each failure lands mid-batch:
#   - the worker is killed with SIGKILL (the postmaster restarts the cluster);
#   - the server is stopped with -m immediate and started again;
#   - the worker is ended with pg_terminate_backend (it comes back, new pid).
# In every case all rows end up at Webflow exactly once (no duplicate slug,
# as many items as rows) and webflow.status shows nothing pending or failed.
# Also: DROP DATABASE of another database completes promptly while the
# worker is busy, even with a slow request in flight; DROP EXTENSION with
# rows queued completes, the worker stops sending at once, logs and
# reports that the extension is missing, and CREATE EXTENSION again brings
# publishing back.  Last, the SIGKILL case again in a collection that
# already holds 1,000 items: recovery must stay cheap (pages of 100 items,
# no lookup per row).
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
my $node = new_node('publish_crash', 'webflow.rate_limit' => 120);
my $rows = 1000;
my $creates_path = "^/v2/collections/$JOBS/items/live\$";

sub sql { return $node->safe_psql('postgres', $_[0]); }

sql(qq{
CREATE TABLE jobs (id serial PRIMARY KEY, name text NOT NULL);
SELECT webflow.bind('jobs', '$JOBS');
});

# backlog(PREFIX, MIN_POSTS, TABLE): queues $rows rows and waits until the
# worker is busy sending them (at least MIN_POSTS create requests answered,
# default 2); returns the log sequence number before the backlog.  The fake
# starts afresh (fixture items only), so that the collection holds only this
# scenario's items.
sub backlog
{
	my ($prefix, $min_posts, $table) = @_;
	$table //= 'jobs';
	fake_reset();
	my $seq = fake_log_seq();
	sql(qq{INSERT INTO $table (name) SELECT '$prefix ' || i FROM generate_series(1, $rows) AS i});
	ok(wait_until(sub { @{ api_requests($seq, 'POST', qr/$creates_path/) } >= ($min_posts // 2) }, 20, 0.05),
		"$prefix: the worker is sending the $rows-row backlog");
	return $seq;
}

# exactly_once(PREFIX, TIMEOUT, TABLE): every row with that name prefix is
# at the fake once
sub exactly_once
{
	my ($prefix, $timeout, $table) = @_;
	$table //= 'jobs';
	(my $slug = lc $prefix) =~ s/\W+/-/g;
	my $items;
	ok(wait_until(sub {
				$items = [ grep { ($_->{fieldData}{slug} // '') =~ /^$slug-\d+$/ } @{ fake_items($JOBS) } ];
				@$items >= $rows;
			}, $timeout // 60, 0.5),
		"$prefix: all $rows rows reached Webflow");
	my %seen;
	$seen{ $_->{fieldData}{slug} }++ for @$items;
	is(scalar(@$items), $rows, "$prefix: exactly $rows items, one per row");
	is(scalar(grep { $_ > 1 } values %seen), 0, "$prefix: no duplicate slug");
	ok(wait_for($node, qq{SELECT pending || '/' || sending || '/' || failed FROM webflow.status
	                      WHERE source = '$table'::regclass}, '0/0/0', 20),
		"$prefix: webflow.status shows 0 pending, 0 sending, 0 failed");
	is(sql(qq{SELECT count(DISTINCT i.item_id) FROM webflow.items i JOIN $table j ON i.source_key = j.id::text
	          WHERE i.collection_id = '$JOBS' AND j.name LIKE '$prefix %'}), $rows,
		"$prefix: webflow.items maps each row to its own item");
}

# ---- SIGKILL of the worker mid-batch
backlog('Killed');
my $pid = worker_pid($node);
like($pid, qr/^\d+$/, "the worker's pid is known ($pid)");
my $logpos = -s $node->logfile;
kill 'KILL', $pid;
ok(wait_until(sub { slurp_log_since($node, $logpos) =~ /database system is ready to accept connections/ }, 30, 0.2),
	'after SIGKILL of the worker the postmaster reinitializes the cluster');
like(slurp_log_since($node, $logpos), qr/webflow worker.*was terminated by signal 9/,
	'the log shows the worker killed by signal 9');
ok(wait_for($node, q{SELECT webflow.worker_status()->>'pid' IS NOT NULL}, 't', 20),
	'a new worker is running');
exactly_once('Killed');

# ---- server stopped with -m immediate mid-batch
backlog('Immediate');
$node->stop('immediate');
$node->start;
exactly_once('Immediate');

# ---- pg_terminate_backend of the worker
backlog('Terminated');
$pid = worker_pid($node);
is(sql("SELECT pg_terminate_backend($pid)"), 't', 'pg_terminate_backend ends the worker');
my $newpid;
ok(wait_until(sub { $newpid = worker_pid($node); $newpid =~ /^\d+$/ && $newpid != $pid }, 15, 0.1),
	'the worker comes back with a new pid');
exactly_once('Terminated');

# ---- DROP DATABASE of another database while the worker is busy
sql('CREATE DATABASE scratch');
backlog('Drop database', 1);
my $t0 = time;
sql('DROP DATABASE scratch');
my $dt = time - $t0;
cmp_ok($dt, '<', 10, sprintf('DROP DATABASE completes promptly while the worker drains (%.2f s)', $dt));
exactly_once('Drop database');

# the same with a slow request in flight (the fake answers after 6 s)
sql('CREATE DATABASE scratch');
fake_reset();
fake_fault({ match => { method => 'POST', path => $creates_path }, delay_ms => 6000, process => JSON::PP::true, count => 1 });
sql(q{INSERT INTO jobs (name) VALUES ('Slow in flight')});
ok(wait_until(sub { fake_stats()->{requests} > 0 && @{ fake_admin('GET', '/faults') } == 0 }, 10, 0.05),
	'a create request is in flight, answered only after 6 s');
sleep(0.5);
$t0 = time;
sql('DROP DATABASE scratch');
$dt = time - $t0;
cmp_ok($dt, '<', 2, sprintf('DROP DATABASE completes within a second or so while a request is in flight (%.2f s)', $dt));
ok(wait_for($node, q{SELECT count(*) FROM webflow.outbox}, '0', 30), 'the slow row is settled');
is(scalar(grep { ($_->{fieldData}{slug} // '') eq 'slow-in-flight' } @{ fake_items($JOBS) }), 1,
	'and published once');

# ---- DROP EXTENSION with rows queued
sql('CREATE DATABASE observer');
$node->safe_psql('observer', 'CREATE EXTENSION webflow');
backlog('Drop extension', 1);
$logpos = -s $node->logfile;
$t0 = time;
sql('DROP EXTENSION webflow CASCADE');
$dt = time - $t0;
cmp_ok($dt, '<', 10, sprintf('DROP EXTENSION with rows queued completes (%.2f s)', $dt));
sleep(1);
my $seq_after_drop = fake_log_seq();
my $t_after_drop = time;
sleep(2);
# (the fake logs a request when it ends: the slow one of the DROP DATABASE
# case above, abandoned by the worker, may show up late; count only
# requests that started after the drop)
my @late = grep { iso_epoch($_->{time}) >= $t_after_drop } @{ fake_log($seq_after_drop) };
is(scalar(@late), 0, 'a second after DROP EXTENSION the worker sends nothing more')
	or diag(explain(\@late));
ok(wait_until(sub { slurp_log_since($node, $logpos) =~ /webflow worker: extension "webflow" is not installed in database "postgres"/ },
		10, 0.2),
	'the worker logs that the extension is missing');
my $state = $node->safe_psql('observer', q{SELECT webflow.worker_status()->>'state' || ': ' || (webflow.worker_status()->>'problem')});
like($state, qr/waiting for the extension: extension "webflow" is not installed in database "postgres"/,
	"worker_status() (seen from another database) reports it: $state");
unlike(slurp_log_since($node, $logpos), qr/terminated by signal|server process .* was terminated/,
	'nothing crashed');
sql('CREATE EXTENSION webflow');
ok(wait_for($node, q{SELECT webflow.worker_status()->>'state'}, 'idle', 15),
	'after CREATE EXTENSION again the worker is back to idle');
sql(qq{
CREATE TABLE jobs_again (id serial PRIMARY KEY, name text NOT NULL);
SELECT webflow.bind('jobs_again', '$JOBS');
INSERT INTO jobs_again (name) VALUES ('Back Again');
});
ok(wait_until(sub { grep { ($_->{fieldData}{slug} // '') eq 'back-again' } @{ fake_items($JOBS) } }, 10, 0.1),
	'and a new row is published');

# ---- SIGKILL mid-batch when the collection already holds many items
# Recovering the creates whose outcome is unknown must not cost one request
# per row: the collection's newest items are listed a page (100) at a time.
fake_reset();
sql(q{ALTER SYSTEM SET webflow.rate_limit = 100000; SELECT pg_reload_conf();});
ok(wait_for($node, q{SHOW webflow.rate_limit}, '100000', 10), 'no rate limit while the collection fills');
sql(q{INSERT INTO jobs_again (name) SELECT 'Older ' || i FROM generate_series(1, 1000) AS i});
ok(wait_until(sub { @{ fake_items($JOBS) } == 1000 }, 30, 0.5), 'the collection holds 1,000 older items');
ok(wait_for($node, q{SELECT count(*) FROM webflow.outbox}, '0', 10), 'which are all published');
sql(q{ALTER SYSTEM RESET webflow.rate_limit; SELECT pg_reload_conf();});
ok(wait_for($node, q{SHOW webflow.rate_limit}, '120', 10), 'the rate limit is 120 again');
sleep(0.5);    # the worker reloads when it wakes next
my $seq = fake_log_seq();
sql(qq{INSERT INTO jobs_again (name) SELECT 'Large ' || i FROM generate_series(1, $rows) AS i});
ok(wait_until(sub { @{ api_requests($seq, 'POST', qr/$creates_path/) } >= 2 }, 20, 0.05),
	'Large: the worker is sending the backlog');
$logpos = -s $node->logfile;
kill 'KILL', worker_pid($node);
ok(wait_until(sub { slurp_log_since($node, $logpos) =~ /database system is ready to accept connections/ }, 30, 0.2),
	'the cluster is back after SIGKILL of the worker');
$seq = fake_log_seq();
ok(wait_until(sub { (grep { ($_->{fieldData}{slug} // '') =~ /^large-\d+$/ } @{ fake_items($JOBS) }) >= $rows },
		20, 0.5),
	"Large: all $rows rows reached Webflow within 20 s of the restart (about 30 requests at 120 a minute)");
my $lookups = grep { $_->{method} eq 'GET' && defined $_->{query}{slug} } @{ fake_log($seq) };
cmp_ok($lookups, '<=', 5, "Large: the recovery does not look rows up one by one ($lookups GET ?slug= so far)");
my %seen;
$seen{ $_->{fieldData}{slug} }++ for @{ fake_items($JOBS) };
is(scalar(grep { $_ > 1 } values %seen), 0, 'Large: however long it takes, no duplicate slug');

$node->stop;
done_testing();
