# t/034_pg_cron.pl: publishing without the background worker, from pg_cron.
#
# With webflow.worker_enabled = off and pg_cron scheduling
# SELECT webflow.drain() (as the README shows), rows inserted into a bound
# table reach the local Webflow through the cron job, and
# cron.job_run_details records the runs as succeeded.  pg_cron >= 1.5 takes
# a '5 seconds' schedule; older versions (Debian 12 ships 1.4) only run
# every minute, so then the test waits for up to ~70 s.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use FindBin;
use lib $FindBin::RealBin;
use WebflowTest;

my $sharedir = `pg_config --sharedir`;
chomp $sharedir;
plan skip_all => 'pg_cron is not installed (Debian package postgresql-15-cron)'
  unless -f "$sharedir/extension/pg_cron.control";

start_fake();
my $node = new_node('pg_cron',
	shared_preload_libraries    => "'pg_cron, webflow'",
	'cron.database_name'        => "'postgres'",
	'cron.use_background_workers' => 'on',
	'webflow.worker_enabled'    => 'off');

sub sql { return $node->safe_psql('postgres', $_[0]); }

sql(qq{
CREATE EXTENSION pg_cron;
CREATE TABLE jobs (id serial PRIMARY KEY, name text NOT NULL, department text);
SELECT webflow.bind('jobs', '$JOBS');
INSERT INTO jobs (name, department) VALUES ('Cron One', 'Ops'), ('Cron Two', 'Ops'), ('Cron Three', 'Ops');
});
is(worker_status($node)->{state}, 'disabled', 'the background worker is disabled');
is(sql('SELECT count(*) FROM webflow.outbox'), '3', 'three rows are queued');
sleep(1.5);
is(scalar(@{ fake_items($JOBS) }), 0, 'nothing is sent without a drain');

# schedule the drain: every 5 seconds when pg_cron can, else every minute
my ($out, $err);
$node->psql('postgres', q{SELECT cron.schedule('webflow-drain', '5 seconds', 'SELECT webflow.drain()')},
	stdout => \$out, stderr => \$err);
my $wait = 20;
if ($err ne '')
{
	note("pg_cron takes no seconds schedule ($err): scheduling every minute");
	sql(q{SELECT cron.schedule('webflow-drain', '* * * * *', 'SELECT webflow.drain()')});
	$wait = 75;
}
is(sql(q{SELECT count(*) FROM cron.job WHERE jobname = 'webflow-drain' AND command = 'SELECT webflow.drain()'}),
	'1', 'the drain job is scheduled');

my $t0 = time;
ok(wait_until(sub { scalar(@{ fake_live_items($JOBS) }) == 3 }, $wait, 0.5),
	'the queued rows reach Webflow through the cron job');
note(sprintf('they arrived after %.0f s', time - $t0));
is(join(',', sort map { $_->{liveFieldData}{slug} } @{ fake_items($JOBS) }),
	'cron-one,cron-three,cron-two', 'as live items with the rows\' slugs');
ok(wait_for($node, q{SELECT count(*) > 0 FROM cron.job_run_details d JOIN cron.job j USING (jobid)
                     WHERE j.jobname = 'webflow-drain' AND d.status = 'succeeded'}, 't', 10),
	'cron.job_run_details records a succeeded run');
is(sql(q{SELECT count(*) FROM cron.job_run_details WHERE status = 'failed'}), '0', 'and no failed run');
ok(wait_for($node, q{SELECT pending || '/' || failed || '/' || (last_success IS NOT NULL) FROM webflow.status},
		'0/0/true', 10),
	'webflow.status: nothing pending or failed, and a last success');
like(worker_status($node)->{state}, qr/disabled/, 'the worker stayed disabled throughout');

sql(q{SELECT cron.unschedule('webflow-drain')});
$node->stop;
done_testing();
