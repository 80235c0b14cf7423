# t/097_pg_upgrade.pl: pg_upgrade of a cluster that has webflow in
# shared_preload_libraries, into a new cluster that preloads it too, as a
# packager's upgrade does.  The worker must stay out of the way while
# pg_upgrade runs either server (it starts them with -b, binary upgrade):
# a worker connected to the database makes pg_upgrade's restore fail
# ("database is being accessed by other users") and could publish from a
# cluster that is being copied.  What users have goes across: changes
# queued in the old cluster are published by the new one's worker, the
# item map keeps each row on its item (no second item of a row), and the
# trigger goes on queueing.  Decided from the live items, every page.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use FindBin;
use lib $FindBin::RealBin;
use WebflowTest;

start_fake();
my $coll = fake_collection('upgrade', 'Upgraded');

# the old cluster: rows published, then more changes queued while the
# worker is off (it is still registered, and idles connected)
my $old = new_node('upgrade_old');
my $n_items = scalar(@{ fake_pages($coll) });
$old->safe_psql('postgres', qq{
CREATE TABLE jobs (id int PRIMARY KEY, name text NOT NULL);
SELECT webflow.bind('jobs', '$coll', '{"exclude": ["id"]}');
INSERT INTO jobs SELECT g, 'Upgraded job ' || g FROM generate_series(1, 5) g;
});
ok(wait_for($old, q{SELECT count(*) FROM webflow.outbox}, '0', 60),
	'the old cluster publishes the table');
is(scalar(@{ fake_pages($coll) }), $n_items + 5, 'five rows are live');
$old->safe_psql('postgres', q{ALTER SYSTEM SET webflow.worker_enabled = off; SELECT pg_reload_conf();});
ok(wait_until(sub { worker_status($old)->{state} eq 'disabled' }, 30),
	'the old cluster\'s worker is off');
$old->safe_psql('postgres', q{
INSERT INTO jobs VALUES (6, 'Upgraded job 6'), (7, 'Upgraded job 7');
UPDATE jobs SET name = 'Upgraded job one' WHERE id = 1;
DELETE FROM jobs WHERE id = 2;
});
is($old->safe_psql('postgres', q{SELECT count(*) FROM webflow.outbox}), '4',
	'four changes are queued in the old cluster');
$old->stop;

# the new cluster preloads webflow, its worker on
my $new = new_node('upgrade_new', create_extension => 0);
$new->stop;
my $bindir = `pg_config --bindir`;
chomp $bindir;
my $work = PostgreSQL::Test::Utils::tempdir_short();
{
	chdir $work or die "chdir $work: $!";
	my ($stdout, $stderr) = run_command([ 'pg_upgrade', '--no-sync',
		'-d', $old->data_dir, '-D', $new->data_dir, '-b', $bindir, '-B', $bindir,
		'-p', $old->port, '-P', $new->port, '-s', $work ]);
	my $ok = ($stdout =~ /Upgrade Complete/);
	ok($ok, 'pg_upgrade with webflow preloaded in both clusters completes')
	  or diag("pg_upgrade: $stdout\n$stderr\n" . join("\n",
		map { "== $_\n" . slurp_file($_) } glob($new->data_dir . '/pg_upgrade_output.d/*/log/*.log')));
	chdir $FindBin::RealBin;
}

$new->start;
ok(wait_for($new, q{SELECT count(*) FROM webflow.outbox}, '0', 60),
	'the new cluster\'s worker publishes the changes queued in the old one');
my ($same, $why) = site_matches_on($new, 'jobs', $coll);
ok($same, "the live items are the table's rows, each once ($why)");

$new->safe_psql('postgres', q{INSERT INTO jobs VALUES (8, 'Upgraded job 8'); UPDATE jobs SET name = 'Upgraded job seven' WHERE id = 7;});
ok(wait_for($new, q{SELECT count(*) FROM webflow.outbox}, '0', 60),
	'changes made after the upgrade are published');
($same, $why) = site_matches_on($new, 'jobs', $coll);
ok($same, "the live items are still the table's rows, each once ($why)");
is($new->safe_psql('postgres', q{SELECT count(*) FROM webflow.items}), '7',
	'the item map has one entry per row');

$new->stop;
done_testing();
