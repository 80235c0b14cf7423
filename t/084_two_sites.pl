# t/084_two_sites.pl: two tables published to two sites of the fake over
# two connections, each with its own token and request budget: a site
# stuck in 429s, a refused token or a lost grant holds up only its own
# rows, a backlog on one site never keeps the other's rows waiting, and a
# changed user mapping counts without a restart.
#
# Decided from what a visitor of each site sees (the live items, all
# pages), and from webflow.connections() / webflow.status for the reasons.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use FindBin;
use lib $FindBin::RealBin;
use WebflowTest;

my $JOBS      = $WebflowTest::JOBS;
my $POSITIONS = '580e63fc8c9a982ac9b8b749';    # the fake's second site (careers-token)
my $R         = 600;                           # requests per minute and token

my $node = new_node('two_sites',
	'webflow.rate_limit' => $R,
	'webflow.batch_size' => 1);
my %env = fake_env();
fake_reset();
fake_config({ rate_limit => $R });

sub sql { return $node->safe_psql('postgres', $_[0]); }

# live_names(COLLECTION): the names a visitor of its site sees (read with
# a read-only token of that site: tokens reach their own site only)
sub live_names
{
	my $token = $_[0] eq $POSITIONS ? 'careers-readonly-token' : 'readonly-token';
	return [ sort map { $_->{fieldData}{name} } @{ fake_pages($_[0], token => $token) } ];
}

# extension_429s(SINCE): 429s the extension's requests got after SINCE
sub extension_429s
{
	return scalar grep { !$_->{actor} && ($_->{status} // 0) == 429 } @{ fake_log($_[0]) };
}

sub live_count { return scalar @{ live_names($_[0]) }; }

sql(qq{
CREATE SERVER magrathea FOREIGN DATA WRAPPER webflow
    OPTIONS (api_url '$env{WEBFLOW_FAKE_URL}', rate_limit '$R');
CREATE USER MAPPING FOR CURRENT_USER SERVER magrathea OPTIONS (token 'careers-token');
CREATE TABLE jobs (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE positions (id int PRIMARY KEY, name text NOT NULL);
SELECT webflow.bind('jobs', '$JOBS');
SELECT webflow.bind('positions', '$POSITIONS', '{"connection": "magrathea"}');
});

# ---- both sites at once: each connection at its own full budget
my $seq0 = fake_log_seq();
sql(q{INSERT INTO jobs SELECT i, 'Job ' || i FROM generate_series(1, 40) i;
      INSERT INTO positions SELECT i, 'Position ' || i FROM generate_series(1, 40) i;});
my $t0 = time;
ok(wait_until(sub { live_count($JOBS) == 40 && live_count($POSITIONS) == 40 }, 30, 0.25),
	'both tables reach their own sites');
my $both = time - $t0;
# 80 requests at R per token on two tokens: about 4 s; one budget for both would take 8 s
cmp_ok($both, '<', 7, sprintf('80 rows over two connections of R = %d/min each take %.1f s (one shared budget: 8 s)', $R, $both));
is(extension_429s($seq0), 0, 'no 429 from either site');
is(sql(q{SELECT string_agg(connection || '=' || rate_limit, ',' ORDER BY connection) FROM webflow.connections()}),
	"=$R,magrathea=$R", 'webflow.connections() shows both budgets');

# ---- one site stuck in 429: the other drains at its full budget
fake_fault({ match => { path => "^/v2/collections/$POSITIONS/" }, status => 429, retry_after => 30, count => 1000 });
sql(q{INSERT INTO positions SELECT i, 'Position ' || i FROM generate_series(41, 50) i;});
ok(wait_for($node, q{SELECT paused_because IS NOT NULL FROM webflow.connections() WHERE connection = 'magrathea'}, 't', 10),
	'the careers connection is paused by its 429');
$t0 = time;
sql(q{INSERT INTO jobs SELECT i, 'Job ' || i FROM generate_series(41, 80) i;});
ok(wait_until(sub { live_count($JOBS) == 80 }, 30, 0.25), 'the other site gets all its rows meanwhile');
my $alone = time - $t0;
cmp_ok($alone, '<', 7, sprintf('40 rows at R = %d/min in %.1f s (4 s at the full budget)', $R, $alone));
is(live_count($POSITIONS), 40, 'no new position is live during the pause');
like(sql(q{SELECT paused_because FROM webflow.status WHERE source = 'positions'::regclass}),
	qr/429/, 'webflow.status says why the positions wait');
is(sql(q{SELECT coalesce(paused_because, 'none') FROM webflow.status WHERE source = 'jobs'::regclass}),
	'none', 'and that the jobs do not');
is(sql(q{SELECT count(*) FILTER (WHERE attempts > 0 OR state = 'failed') FROM webflow.outbox}), '0',
	'the waiting rows count no attempt and none failed');
fake_clear_faults();
sql(q{SELECT webflow.retry()});
ok(wait_until(sub { live_count($POSITIONS) == 50 }, 15, 0.25),
	'once the pause is lifted (retry()) the positions arrive');

# ---- a backlog on one site does not keep the other's rows out of a pass
fake_config({ rate_limit => $R });
sql(q{INSERT INTO jobs SELECT i, 'Job ' || i FROM generate_series(81, 280) i;});
sleep(0.5);
$t0 = time;
sql(q{INSERT INTO positions SELECT i, 'Position ' || i FROM generate_series(51, 70) i;});
ok(wait_until(sub { live_count($POSITIONS) == 70 }, 20, 0.25), 'the positions queued behind 200 jobs arrive');
my $behind = time - $t0;
my $jobs_then = live_count($JOBS);
cmp_ok($behind, '<', 5, sprintf('in %.1f s (20 requests at R: 2 s; behind the jobs: 22 s)', $behind));
cmp_ok($jobs_then, '<', 280, "while the jobs' backlog still drains ($jobs_then of 280 live)");
ok(wait_until(sub { live_count($JOBS) == 280 }, 40, 0.2), 'then the jobs backlog is done too');

# ---- a refused token pauses its connection only; a new mapping counts at once
sql(q{ALTER USER MAPPING FOR CURRENT_USER SERVER magrathea OPTIONS (SET token 'revoked-token');});
sql(q{INSERT INTO positions VALUES (71, 'Position 71');});
ok(wait_for($node, q{SELECT paused_because LIKE '%rejected the token%' FROM webflow.status WHERE source = 'positions'::regclass}, 't', 10),
	'a 401 pauses the careers connection, and webflow.status says so');
sql(q{INSERT INTO jobs VALUES (281, 'Job 281');});
ok(wait_until(sub { live_count($JOBS) == 281 }, 10, 0.25), 'the other site goes on');
is(live_count($POSITIONS), 70, 'the position waits');
unlike(sql(q{SELECT string_agg(coalesce(paused_because, '') || coalesce(last_error, ''), ' ') FROM webflow.status}),
	qr/revoked-token|careers-token/, 'no token in webflow.status');
sql(q{ALTER USER MAPPING FOR CURRENT_USER SERVER magrathea OPTIONS (SET token 'careers-token');});
ok(wait_until(sub { live_count($POSITIONS) == 71 }, 20, 0.2),
	'with the mapping fixed the position arrives, without a restart');

# ---- the binding's role loses its grant: its rows wait, and say why
sql(q{
CREATE ROLE careers_editor LOGIN;
GRANT USAGE ON FOREIGN SERVER magrathea TO careers_editor;
CREATE USER MAPPING FOR careers_editor SERVER magrathea OPTIONS (token 'careers-token');
CREATE TABLE openings (id int PRIMARY KEY, name text NOT NULL);
ALTER TABLE openings OWNER TO careers_editor;
GRANT EXECUTE ON FUNCTION webflow.bind(regclass, text, jsonb) TO careers_editor;
INSERT INTO webflow.collection_owners (collection_id, owner) VALUES ('580e63fc8c9a982ac9b8b749', 'careers_editor')
    ON CONFLICT (collection_id) DO UPDATE SET owner = EXCLUDED.owner;
});
$node->safe_psql('postgres', qq{SELECT webflow.bind('openings', '$POSITIONS', '{"connection": "magrathea"}')},
	extra_params => [ '-U', 'careers_editor' ]);
is(sql(q{SELECT bound_by FROM webflow.bindings WHERE source = 'openings'::regclass}), 'careers_editor',
	'the binding records the role that bound the table');
sql(q{REVOKE USAGE ON FOREIGN SERVER magrathea FROM careers_editor;
      INSERT INTO openings VALUES (1001, 'Opening 1001');});
ok(wait_for($node, q{SELECT o.last_error LIKE '%permission denied for webflow connection%' FROM webflow.outbox o JOIN webflow.bindings b ON b.id = o.binding_id WHERE b.source = 'openings'::regclass}, 't', 15),
	'without USAGE its rows wait, saying why');
is(sql(q{SELECT state || ':' || attempts FROM webflow.outbox o JOIN webflow.bindings b ON b.id = o.binding_id WHERE b.source = 'openings'::regclass}),
	'pending:0', 'pending, no attempt counted');
ok(!grep({ $_ eq 'Opening 1001' } @{ live_names($POSITIONS) }), 'and nothing was sent for it');
sql(q{GRANT USAGE ON FOREIGN SERVER magrathea TO careers_editor;});
ok(wait_until(sub { grep { $_ eq 'Opening 1001' } @{ live_names($POSITIONS) } }, 20, 0.2),
	'with the grant back the row arrives');

# ---- at the end each site shows exactly its tables' rows
is_deeply(live_names($JOBS), [ split /\n/, sql(q{SELECT name FROM jobs ORDER BY name}) ],
	'the jobs site shows exactly the jobs table');
is_deeply(live_names($POSITIONS),
	[ split /\n/, sql(q{SELECT name FROM (SELECT name FROM positions UNION ALL SELECT name FROM openings) x ORDER BY name}) ],
	'the careers site shows exactly the positions and openings');
is(sql(q{SELECT count(*) FROM webflow.outbox}), '0', 'nothing left in the outbox');

$node->stop;
fake_reset();
done_testing();
