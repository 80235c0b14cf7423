# t/010_cancel.pl: a request in flight is abandoned at once when the query is
# canceled (pg_cancel_backend, statement_timeout) or the backend terminated
# (pg_terminate_backend), long before the slow answer would arrive; the
# session stays usable after a cancel.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $root = $ENV{TESTDIR} || '.';
my $services = PostgreSQL::Test::Utils::tempdir();
$ENV{WITHOUT_PRISM} = 1;
system('bash', "$root/test/services", 'start', $services) == 0
  or BAIL_OUT('could not start test/services');
my %env = map { /^(\w+)=(.*)$/ ? ($1 => $2) : () }
  split /\n/, slurp_file("$services/env");
END { system('bash', "$root/test/services", 'stop', $services) if $services; }

# fault_delay makes the fake answer the next request after $ms milliseconds
sub fault_delay
{
	my ($ms) = @_;
	my $out = `curl -s -X POST -H 'Content-Type: application/json' -d '{"delay_ms": $ms}' $env{WEBFLOW_FAKE_ADMIN}/faults`;
	like($out, qr/queued/, "fake will answer the next request after $ms ms");
}

my $node = PostgreSQL::Test::Cluster->new('cancel');
$node->init;
$node->append_conf('postgresql.conf', qq{
webflow.token = 'test-token'
webflow.api_url = '$env{WEBFLOW_FAKE_URL}'
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION webflow');

# pg_cancel_backend
fault_delay(20000);
my $session = $node->background_psql('postgres', on_error_stop => 0);
my $pid = $session->query_safe('SELECT pg_backend_pid()');
my $started = time();
$session->query_until(qr/go/, "\\echo go\nSELECT webflow.list_sites();\n");
$node->poll_query_until('postgres',
	"SELECT wait_event = 'Extension' OR wait_event LIKE 'Webflow%' FROM pg_stat_activity WHERE pid = $pid")
  or die 'the request never started';
$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
my $answer = $session->query('SELECT 1');
my $elapsed = time() - $started;
like($session->{stderr}, qr/canceling statement due to user request/,
	'pg_cancel_backend cancels a request in flight');
cmp_ok($elapsed, '<', 10, 'the cancel took effect long before the 20 s answer');
is($answer, '1', 'the session is usable after the cancel');
$session->quit;

# statement_timeout
$node->safe_psql('postgres', "SELECT 1");
`curl -s -X DELETE $env{WEBFLOW_FAKE_ADMIN}/faults`;
fault_delay(20000);
$started = time();
my ($ret, $stdout, $stderr) = $node->psql('postgres',
	"SET statement_timeout = '500ms'; SELECT webflow.list_sites();");
$elapsed = time() - $started;
like($stderr, qr/canceling statement due to statement timeout/,
	'statement_timeout cancels a request in flight');
cmp_ok($elapsed, '<', 10, 'statement_timeout took effect within seconds');

# pg_terminate_backend
`curl -s -X DELETE $env{WEBFLOW_FAKE_ADMIN}/faults`;
fault_delay(20000);
$session = $node->background_psql('postgres', on_error_stop => 0);
$pid = $session->query_safe('SELECT pg_backend_pid()');
$started = time();
$session->query_until(qr/go/, "\\echo go\nSELECT webflow.list_sites();\n");
$node->poll_query_until('postgres',
	"SELECT wait_event = 'Extension' OR wait_event LIKE 'Webflow%' FROM pg_stat_activity WHERE pid = $pid")
  or die 'the request never started';
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
$node->poll_query_until('postgres',
	"SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = $pid")
  or die 'the backend did not exit';
$elapsed = time() - $started;
cmp_ok($elapsed, '<', 10, 'pg_terminate_backend ends a backend waiting on Webflow within seconds');
eval { $session->quit };

# the server is healthy and the next request works
`curl -s -X DELETE $env{WEBFLOW_FAKE_ADMIN}/faults`;
is($node->safe_psql('postgres', 'SELECT count(*) FROM webflow.list_sites()'), '1',
	'requests work again after the cancels');
ok(slurp_file($node->logfile) !~ /terminated by signal/, 'no backend crashed');

$node->stop;
done_testing();
