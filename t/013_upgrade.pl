# t/013_upgrade.pl: ALTER EXTENSION webflow UPDATE from the released 1.0
# keeps what users have (queued changes, the item map, bindings, the grants
# they made) and ends with the catalog of a fresh install; the worker goes
# on publishing, now with 1.1's functions.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use WebflowTest;

my $node = new_node('upgrade', create_extension => 0, 'webflow.worker_enabled' => 'off');
sub sql { return $node->safe_psql('postgres', $_[0]); }


# ---- a 1.0 install in use
sql(q{CREATE EXTENSION webflow VERSION '1.0'});
is(sql(q{SELECT extversion FROM pg_extension WHERE extname = 'webflow'}), '1.0', 'version 1.0 is installed');
sql(qq{
CREATE ROLE publisher LOGIN;
CREATE TABLE jobs (id int PRIMARY KEY, name text NOT NULL, department text);
ALTER TABLE jobs OWNER TO publisher;
GRANT EXECUTE ON FUNCTION webflow.bind(regclass, text, jsonb), webflow.sync(regclass) TO publisher;
SELECT webflow.bind('jobs', '$JOBS');
INSERT INTO jobs VALUES (1, 'Upgraded Analyst', 'Data'), (2, 'Upgraded Manager', 'Product');
INSERT INTO webflow.items (collection_id, source_key, item_id, slug, payload_hash)
    VALUES ('$JOBS', '0', '6b0000000000000000000001', 'old-job', 'x');
});
my $before = sql(q{SELECT string_agg(id || ':' || op || ':' || row_key || ':' || coalesce(row_image::text, ''), ',' ORDER BY id)
                   FROM webflow.outbox});
is(sql('SELECT count(*) FROM webflow.outbox'), '2', 'two changes are queued under 1.0');

# ---- the update
sql(q{ALTER EXTENSION webflow UPDATE});
is(sql(q{SELECT extversion FROM pg_extension WHERE extname = 'webflow'}), '1.1', 'ALTER EXTENSION UPDATE goes to 1.1');
is(sql(q{SELECT string_agg(id || ':' || op || ':' || row_key || ':' || coalesce(row_image::text, ''), ',' ORDER BY id)
         FROM webflow.outbox}), $before, 'the queued changes are kept');
is(sql(q{SELECT item_id || ' ' || slug FROM webflow.items WHERE source_key = '0'}),
	'6b0000000000000000000001 old-job', 'the item map is kept');
is(sql(q{SELECT source::text || ' ' || collection_id FROM webflow.bindings}), "jobs $JOBS", 'the binding is kept');
is(sql(q{SELECT has_function_privilege('publisher', 'webflow.bind(regclass, text, jsonb)', 'EXECUTE')
             AND has_function_privilege('publisher', 'webflow.sync(regclass)', 'EXECUTE')}), 't',
	'the grants users made on bind and sync are kept');
is(sql(q{SELECT string_agg(proname || ':' || prosecdef, ',' ORDER BY proname) FROM pg_proc
         WHERE pronamespace = 'webflow'::regnamespace AND proname IN ('bind', 'sync')}),
	'bind:false,sync:false', 'bind and sync are no longer SECURITY DEFINER');

# ---- the same catalog as a fresh 1.1 install
sql('CREATE DATABASE fresh');
$node->safe_psql('fresh', 'CREATE EXTENSION webflow');
$node->safe_psql('fresh', q{GRANT EXECUTE ON FUNCTION webflow.bind(regclass, text, jsonb), webflow.sync(regclass) TO publisher});
my ($updated, $fresh) = (extension_catalog($node, 'postgres'), extension_catalog($node, 'fresh'));
ok(length($fresh) > 1000, 'the catalog of a fresh install is read');
is($updated, $fresh, 'the updated catalog equals a fresh 1.1 install (functions, tables, columns, indexes, triggers, grants, comments)');

# ---- the worker goes on publishing, and 1.1's functions work
sql(q{ALTER SYSTEM SET webflow.worker_enabled = on; SELECT pg_reload_conf();});
ok(wait_for($node, q{SELECT count(*) FROM webflow.outbox}, '0', 30), 'the worker publishes the changes queued under 1.0');
ok(wait_until(sub { grep { ($_->{fieldData}{slug} // '') eq 'upgraded-manager' } @{ fake_items($JOBS) } }, 10, 0.2),
	'they reach Webflow');
$node->safe_psql('postgres', q{UPDATE jobs SET department = 'Engineering' WHERE id = 2},
	extra_params => [ '-U', 'publisher' ]);
ok(wait_for($node, q{SELECT count(*) FROM webflow.outbox}, '0', 30), 'a change after the update is published');
my ($ret, $out, $err) = $node->psql('postgres', q{SELECT webflow.sync('jobs')},
	extra_params => [ '-U', 'publisher' ]);
is($ret, 0, "the table's owner may sync after the update ($err)");

is(sql(q{SELECT webflow.library_version() = extversion FROM pg_extension WHERE extname = 'webflow'}), 't',
	'webflow.library_version() tells the loaded library, the same version as the SQL');

# ---- SQL of a version this library does not run (a newer release's, say)
sql(q{UPDATE pg_extension SET extversion = '9.9' WHERE extname = 'webflow'});
$node->safe_psql('postgres', q{UPDATE jobs SET department = 'Research' WHERE id = 2},
	extra_params => [ '-U', 'publisher' ]);
my ($dret, $dout, $derr) = $node->psql('postgres', q{SELECT webflow.drain()});
like($derr, qr/the webflow library 1\.1 does not run the extension's SQL version 9\.9/,
	'drain() refuses SQL of a version the library does not know, saying so');
like($derr, qr/HINT:  Install the webflow library of version 9\.9 and restart PostgreSQL/, '... and what to do');
ok(wait_until(sub {
	sql(q{SELECT webflow.worker_status()->>'problem'}) =~ /SQL in database "postgres" is version 9\.9, which the webflow library 1\.1 does not run/ }, 15, 0.2),
	'the worker says so in webflow.worker_status()');
ok(wait_until(sub { slurp_file($node->logfile) =~ /WARNING:  webflow worker: the extension's SQL in database "postgres" is version 9\.9/ }, 5, 0.2),
	'... and in the log');
is(sql('SELECT count(*) FROM webflow.outbox'), '1', 'the change waits in the outbox, nothing is lost');
ok(!grep({ ($_->{fieldData}{department} // '') eq 'Research' } @{ fake_items($JOBS) }), 'and nothing was sent');
sql(q{UPDATE pg_extension SET extversion = '1.1' WHERE extname = 'webflow'});
ok(wait_for($node, q{SELECT count(*) FROM webflow.outbox}, '0', 30), 'with the versions matching again, the worker sends it');

$node->stop;
done_testing();
