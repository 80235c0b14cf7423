# t/012_dump.pl: the outbox, the item map, the bindings and the schema cache
# are ordinary logged tables that pg_dump carries: a dump restored into a
# new database still has the queued changes, the item ids and a working
# binding (invariant 1 of doc/architecture).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('dump');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'webflow'
webflow.worker_enabled = off
webflow.token = 'test-token'
webflow.api_url = 'http://127.0.0.1:9/v2'
});
$node->start;

$node->safe_psql('postgres', q{
CREATE EXTENSION webflow;
CREATE TABLE jobs (id int PRIMARY KEY, name text NOT NULL, department text);
-- bind by hand: the API is unreachable here, so the trigger registers itself
CREATE TRIGGER jobs_webflow AFTER INSERT OR UPDATE OR DELETE ON jobs
    FOR EACH ROW EXECUTE FUNCTION webflow.publish_trigger('580e63fc8c9a982ac9b8b745', '{"exclude": ["id"]}');
INSERT INTO jobs VALUES (1, 'Senior Data Analyst', 'Data'), (2, 'Product Manager', 'Product');
INSERT INTO webflow.items (collection_id, source_key, item_id, slug)
    VALUES ('580e63fc8c9a982ac9b8b745', '0', '6b0000000000000000000001', 'old-job');
INSERT INTO webflow.collection_fields (collection_id, slug, type)
    VALUES ('580e63fc8c9a982ac9b8b745', 'name', 'PlainText');
});
is($node->safe_psql('postgres', 'SELECT count(*) FROM webflow.outbox'), '2',
	'two changes are queued');

# a rolled-back transaction leaves nothing behind
$node->safe_psql('postgres', q{
BEGIN; INSERT INTO jobs VALUES (3, 'Never', 'X'); ROLLBACK;
});
is($node->safe_psql('postgres', 'SELECT count(*) FROM webflow.outbox'), '2',
	'a rolled-back insert queues nothing');

# the tables are logged
is($node->safe_psql('postgres', q{
SELECT string_agg(relname || ':' || relpersistence::text, ',' ORDER BY relname)
FROM pg_class WHERE relnamespace = 'webflow'::regnamespace AND relkind = 'r'}),
	'bindings:p,collection_fields:p,collection_owners:p,items:p,outbox:p,outbox_packed:p',
	'every table of the extension is a logged table');

my $dump = $node->basedir . '/webflow.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-f', $dump, '-d', $node->connstr('postgres') ],
	'pg_dump of a database with the extension');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'pg_restore', '-d', $node->connstr('restored'), $dump ],
	'pg_restore into a new database');

is($node->safe_psql('restored', q{SELECT string_agg(op || ':' || row_key, ',' ORDER BY id) FROM webflow.outbox}),
	'upsert:1,upsert:2', 'the queued changes survive a dump and restore');
is($node->safe_psql('restored', q{SELECT item_id || ':' || slug FROM webflow.items}),
	'6b0000000000000000000001:old-job', 'the item map survives');
is($node->safe_psql('restored', q{SELECT source::text || ':' || collection_id FROM webflow.bindings}),
	'jobs:580e63fc8c9a982ac9b8b745', 'the binding survives');
is($node->safe_psql('restored', q{SELECT count(*) FROM webflow.collection_fields}),
	'1', 'the schema cache survives');

# the restored table still publishes, with fresh outbox ids
$node->safe_psql('restored', q{INSERT INTO jobs VALUES (4, 'Designer', 'Design')});
is($node->safe_psql('restored', q{SELECT count(*) FROM webflow.outbox WHERE row_key = '4'}),
	'1', 'the restored trigger queues new changes');
is($node->safe_psql('restored', q{SELECT count(DISTINCT id) FROM webflow.outbox}),
	'3', 'outbox ids do not collide after the restore');

$node->stop;
done_testing();
