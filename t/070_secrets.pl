# t/070_secrets.pl: privileges and secrets.
#
# A role without grants (alice) cannot read webflow.token by any means
# (SHOW, current_setting, pg_settings, pg_show_all_settings,
# pg_file_settings, pg_db_role_setting, error messages, webflow.status, the
# outbox), cannot point the extension elsewhere or change its token, cannot
# call the API functions, cannot read or write the extension's tables,
# cannot bind a table it does not own, and still has the rows it writes to
# a bound table published by the worker.  The whole test runs with
# log_min_messages = debug5 and log_statement = 'all', and the token (set
# only in postgresql.conf, never with SET) must never reach the server log.
# Every SECURITY DEFINER function of the extension pins search_path, and
# the dynamic SQL of webflow--1.0.sql quotes what it interpolates.
#
# A token rotated in postgresql.conf works after a reload; so does
# webflow.token_file, whose token never reaches the log either.
# Known problems are TODO tests (the lead fixes src/ and drops the TODO).
use strict;
use warnings;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use WebflowTest;

my $root = $ENV{TESTDIR} || '.';

# distinctive tokens the fake accepts (a copy of the fixture adds them), and
# decoys that are only ever written to catalogs and files, never used
my $token   = 'wfsecret-7f3c9e1a5b2d4c6e8a0f1e2d3c4b5a69';
my $rotated = 'wfsecret-rotated-0b1c2d3e4f5a6b7c8d9e0f1a';
my $file_token = 'wfsecret-file-c3d4e5f60718293a4b5c6d7e';
my %decoy   = (
	system   => 'wfdecoy-alter-system-5e6f7a8b9c0d',
	role     => 'wfdecoy-alter-role-1a2b3c4d5e6f',
	database => 'wfdecoy-alter-database-9f8e7d6c5b4a');

my $json = JSON::PP->new->utf8->canonical;
my $fixture = $json->decode(slurp_file("$root/test/fixture.json"));
$fixture->{tokens}{$token}   = { %{ $fixture->{tokens}{'test-token'} } };
$fixture->{tokens}{$rotated} = { %{ $fixture->{tokens}{'test-token'} } };
$fixture->{tokens}{$file_token} = { %{ $fixture->{tokens}{'test-token'} } };
my $fixdir = PostgreSQL::Test::Utils::tempdir();
open(my $fh, '>', "$fixdir/fixture.json") or die "fixture: $!";
print $fh $json->encode($fixture);
close $fh;
$ENV{WEBFLOW_FAKE_ARGS} = "--fixture $fixdir/fixture.json";
start_fake();

my $node = new_node(
	'secrets',
	'webflow.token'     => "'$token'",
	'webflow.naptime'   => "'1s'",
	log_min_messages    => 'debug5',
	log_statement       => "'all'",
	log_error_verbosity => 'verbose',
	log_connections     => 'on',
	log_disconnections  => 'on');

# everything any session printed, checked for the token at the end
my $printed = '';

# run(USER, SQL): psql as USER with SQLSTATEs in messages; (ret, out, err)
sub run
{
	my ($user, $sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', $sql,
		extra_params => [ '-U', $user, '-v', 'VERBOSITY=verbose' ]);
	$printed .= ($out // '') . ($err // '');
	return ($ret, $out // '', $err // '');
}

sub as_admin
{
	my ($sql) = @_;
	my ($ret, $out, $err) = run('postgres', $sql);
	die "as postgres: $sql\n$err" if $ret != 0;
	return $out;
}

# refused(SQL, SQLSTATE, NAME): alice's SQL fails with that SQLSTATE
sub refused
{
	my ($sql, $state, $name) = @_;
	my ($ret, $out, $err) = run('alice', $sql);
	ok($ret != 0 && $err =~ /ERROR:  $state:/, $name)
	  or diag("ret=$ret\nstdout: $out\nstderr: $err");
}

my $jobs  = $JOBS;
my $books = $BOOKS;

as_admin(qq{
CREATE ROLE alice LOGIN;
CREATE SCHEMA alice AUTHORIZATION alice;
CREATE TABLE jobs (id int PRIMARY KEY, name text NOT NULL, department text);
SELECT webflow.bind('jobs', '$jobs');
GRANT SELECT, INSERT, UPDATE, DELETE ON jobs TO alice;
CREATE TABLE admins_table (id int PRIMARY KEY, name text);
GRANT SELECT ON admins_table TO alice;
});

# ---------------------------------------------------------------------
# the token cannot be read
# ---------------------------------------------------------------------
refused('SHOW webflow.token', '42501', 'SHOW webflow.token is refused');
refused(q{SELECT current_setting('webflow.token')}, '42501', 'current_setting is refused');
refused(q{SELECT current_setting('webflow.token', true)}, '42501',
	'current_setting(missing_ok) is refused');
my ($ret, $out, $err) = run('alice', q{
SELECT count(*) FROM pg_settings WHERE name = 'webflow.token';
SELECT count(*) FROM pg_show_all_settings() WHERE name = 'webflow.token';
SELECT string_agg(name || '=' || coalesce(setting, '') || '|' || coalesce(reset_val, '') || '|' || coalesce(boot_val, ''), E'\n') FROM pg_settings;
SELECT string_agg(name || '=' || coalesce(setting, ''), E'\n') FROM pg_show_all_settings();
SELECT webflow.http_stats(), webflow.worker_status();
SHOW ALL;
});
is($ret, 0, 'alice reads the settings she may read');
like($out, qr/^0\n0\n/, 'pg_settings and pg_show_all_settings() have no webflow.token row');
ok(index($out, $token) < 0,
	'no setting, reset or boot value, http_stats() or worker_status() shows the token');
refused('SELECT * FROM pg_file_settings', '42501', 'pg_file_settings is refused');
refused(q{SELECT pg_read_file('postgresql.conf')}, '42501', 'postgresql.conf cannot be read');
refused('SELECT * FROM webflow.status', '42501', 'webflow.status is refused');
refused('SELECT * FROM webflow.outbox', '42501', 'webflow.outbox is refused');

# ALTER SYSTEM puts a token into postgresql.auto.conf: pg_file_settings
# shows it to superusers only
as_admin(qq{ALTER SYSTEM SET webflow.token = '$decoy{system}'});
like(as_admin(q{SELECT count(*) FROM pg_file_settings WHERE name = 'webflow.token'}),
	qr/^2$/m, 'pg_file_settings has postgresql.conf and postgresql.auto.conf');
refused(q{SELECT setting FROM pg_file_settings WHERE name = 'webflow.token'}, '42501',
	'alice cannot read pg_file_settings with a token in postgresql.auto.conf');
as_admin(q{ALTER SYSTEM RESET webflow.token});

# ALTER ROLE / DATABASE / FUNCTION ... SET would keep the token in
# pg_db_role_setting or pg_proc, which every role can read: refused
as_admin('CREATE DATABASE other');
for my $stmt (
	"ALTER ROLE alice SET webflow.token = '$decoy{role}'",
	"ALTER DATABASE other SET webflow.token = '$decoy{database}'",
	"ALTER ROLE alice IN DATABASE other SET webflow.token = '$decoy{role}'",
	"ALTER FUNCTION webflow.slugify(text) SET webflow.token = '$decoy{role}'")
{
	my ($r, $o, $e) = run('postgres', $stmt);
	ok($r != 0 && $e =~ /ERROR:  22023: webflow.token cannot be stored as a role, database or function setting/,
		"refused: " . ($stmt =~ s/'[^']*'/'...'/r))
	  or diag($e);
}
($ret, $out, $err) = run('alice', q{
SELECT coalesce(string_agg(array_to_string(setconfig, ','), ','), '') FROM pg_db_role_setting;
SELECT coalesce(string_agg(array_to_string(rolconfig, ','), ','), '') FROM pg_roles;
SELECT coalesce(string_agg(array_to_string(proconfig, ','), ','), '') FROM pg_proc;
});
is($ret, 0, 'alice queries pg_db_role_setting, pg_roles and pg_proc');
ok(index($out, $decoy{role}) < 0 && index($out, $decoy{database}) < 0 && $out !~ /webflow\.token/,
	'no catalog every role can read holds a webflow.token setting');
refused('SHOW webflow.token_file', '42501', 'SHOW webflow.token_file is refused');
refused(q{SET webflow.token_file = '/tmp/mine'}, '42501', 'SET webflow.token_file is refused');

# ---------------------------------------------------------------------
# the settings cannot be changed
# ---------------------------------------------------------------------
refused(q{SET webflow.api_url = 'https://attacker.example/v2'}, '42501', 'SET webflow.api_url is refused');
refused(q{SELECT set_config('webflow.api_url', 'https://attacker.example/v2', false)}, '42501',
	'set_config(webflow.api_url) is refused');
refused(q{SET webflow.token = 'mine'}, '42501', 'SET webflow.token is refused');
refused(q{SET webflow.ca_bundle = '/tmp/my-ca.pem'}, '42501', 'SET webflow.ca_bundle is refused');
refused(q{SET webflow.database_name = 'other'}, '(42501|55P02)', 'SET webflow.database_name is refused');
refused(q{ALTER ROLE alice SET webflow.api_url = 'https://attacker.example/v2'}, '42501',
	'ALTER ROLE alice SET webflow.api_url is refused');
refused(q{ALTER SYSTEM SET webflow.api_url = 'https://attacker.example/v2'}, '42501',
	'ALTER SYSTEM is refused');
($ret, $out, $err) = run('alice', q{SET webflow.timeout = '5s'; SHOW webflow.timeout});
like($out, qr/^5s$/m, 'alice may tune her own timeout');

# ---------------------------------------------------------------------
# the API functions cannot be called
# ---------------------------------------------------------------------
# (connections() and binding_budget() show the budgets worker_status() shows: no token)
my %harmless = map { $_ => 1 } qw(binding_budget connections http_stats item_payload library_version slugify wake worker_status);
my $executable = as_admin(q{
SELECT string_agg(p.proname, ',' ORDER BY p.proname)
FROM pg_proc p
JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'webflow'
WHERE has_function_privilege('alice', p.oid, 'EXECUTE')});
my @open = grep { !$harmless{$_} } split /,/, $executable;
is(join(',', @open), '', 'no function that calls the API, publishes or is private is executable by alice');
for my $call (
	q{SELECT webflow.list_sites()},
	qq{SELECT webflow.get_site('$SITE')},
	q{SELECT webflow.request('GET', '/token/introspect')},
	q{SELECT webflow.get_authorization_info()},
	qq{SELECT webflow.create_live_items('$jobs', '[]')},
	qq{SELECT webflow.refresh_schema('$jobs')},
	q{SELECT webflow.drain()},
	q{SELECT webflow.retry()},
	qq{SELECT webflow.bind('admins_table', '$jobs')},
	q{SELECT webflow.unbind('jobs')},
	q{SELECT webflow.sync('jobs')})
{
	refused($call, '42501', "refused: $call");
}
($ret, $out, $err) = run('alice', qq{
CREATE TABLE alices (id int PRIMARY KEY, name text);
CREATE TRIGGER t AFTER INSERT ON alices FOR EACH ROW EXECUTE FUNCTION webflow.publish_trigger('$jobs');
});
ok($ret != 0 && $err =~ /ERROR:  42501: permission denied for function (webflow\.)?publish_trigger/,
	'alice cannot create a publish trigger by hand (it would register a binding)')
  or diag($err);

# ---------------------------------------------------------------------
# the extension's tables cannot be read or written
# ---------------------------------------------------------------------
my %column = (outbox => 'state', items => 'item_id', bindings => 'options', collection_fields => 'type');
for my $table (sort keys %column)
{
	refused("SELECT * FROM webflow.$table", '42501', "SELECT from webflow.$table is refused");
	refused("UPDATE webflow.$table SET $column{$table} = $column{$table}", '42501',
		"UPDATE of webflow.$table is refused");
	refused("DELETE FROM webflow.$table", '42501', "DELETE from webflow.$table is refused");
	refused("TRUNCATE webflow.$table", '42501', "TRUNCATE of webflow.$table is refused");
}
refused(q{INSERT INTO webflow.outbox (binding_id, op, row_key) VALUES (1, 'delete', '1')}, '42501',
	'INSERT into webflow.outbox is refused');
refused(qq{INSERT INTO webflow.items VALUES ('$jobs', '1', '62b720ef280c7a7a3be8cab0')}, '42501',
	'INSERT into webflow.items is refused');
refused(qq{INSERT INTO webflow.bindings (source, collection_id, key_columns) VALUES ('admins_table', '$jobs', '{id}')},
	'42501', 'INSERT into webflow.bindings is refused');
refused(q{SELECT nextval('webflow.outbox_id_seq')}, '42501', 'the outbox sequence is refused');

# item_payload reads the schema cache as its owner, but resolves references
# only for a role that may read the item map
as_admin(qq{
SELECT webflow.refresh_schema('$books');
INSERT INTO webflow.items (collection_id, source_key, item_id)
VALUES ('580e63fc8c9a982ac9b8b747', 'adams', '62b720ef280c7a7a3be8cab0');
});
($ret, $out, $err) = run('alice',
	qq{SELECT webflow.item_payload('{"name": "x", "author": "adams"}', '{"collection": "$books"}')->'fieldData'->>'author'});
ok(index($out, '62b720ef280c7a7a3be8cab0') < 0, 'alice cannot read the item map through item_payload');
like($err, qr/ERROR:  42501: permission denied to resolve a reference/,
	'resolving a reference needs SELECT on webflow.items');

# ---------------------------------------------------------------------
# a table alice does not own cannot be bound, even with EXECUTE
# ---------------------------------------------------------------------
as_admin(q{GRANT EXECUTE ON FUNCTION webflow.bind(regclass, text, jsonb), webflow.unbind(regclass, text),
               webflow.sync(regclass) TO alice});
($ret, $out, $err) = run('alice', qq{SELECT webflow.bind('admins_table', '$jobs')});
like($err, qr/ERROR:  42501: must be owner of table (public\.)?admins_table to bind it/,
	'alice cannot bind a table she does not own');
($ret, $out, $err) = run('alice', q{SELECT webflow.unbind('jobs')});
like($err, qr/ERROR:  42501: must be owner of table (public\.)?jobs to unbind it/,
	'alice cannot unbind a table she does not own');
($ret, $out, $err) = run('alice', q{SELECT webflow.sync('jobs')});
like($err, qr/ERROR:  42501: must be owner of table (public\.)?jobs to sync it/,
	'alice cannot sync a table she does not own');
($ret, $out, $err) = run('alice', q{SET ROLE postgres});
like($err, qr/ERROR:  42501: permission denied to set role/, 'alice cannot become the owner');
as_admin(q{REVOKE EXECUTE ON FUNCTION webflow.bind(regclass, text, jsonb), webflow.unbind(regclass, text),
                webflow.sync(regclass) FROM alice});
is(as_admin(q{SELECT count(*) FROM webflow.bindings}), '1', 'still one binding');

# ---------------------------------------------------------------------
# alice's writes to the bound table are published
# ---------------------------------------------------------------------
($ret, $out, $err) = run('alice', q{
INSERT INTO jobs VALUES (1, 'Secret Keeper', 'Security'), (2, 'Token Rotator', 'Ops'), (3, 'Short Lived', 'Temp');
UPDATE jobs SET department = 'Platform' WHERE id = 2;
DELETE FROM jobs WHERE id = 3;
});
is($ret, 0, 'alice writes to the bound table') or diag($err);
ok(wait_for($node, q{SELECT pending || '/' || failed FROM webflow.status}, '0/0', 30),
	'the worker publishes her changes');
is(as_admin(q{SELECT string_agg(source_key, ',' ORDER BY source_key) FROM webflow.items
              WHERE collection_id = '580e63fc8c9a982ac9b8b745'}),
	'1,2', 'two items are mapped');
my %live = map { ($_->{fieldData}{name} // '') => $_ } @{ fake_live_items($jobs) };
ok($live{'Secret Keeper'} && $live{'Token Rotator'} && !$live{'Short Lived'},
	'Webflow has her rows, and not the deleted one');
is($live{'Token Rotator'} && $live{'Token Rotator'}{liveFieldData}{department}, 'Platform',
	'her update reached Webflow');

# ---------------------------------------------------------------------
# errors of API calls do not carry the token
# ---------------------------------------------------------------------
($ret, $out, $err) = run('postgres', q{
SELECT webflow.get_site('000000000000000000000000');
});
like($err, qr/WF404/, 'a 404 is an error');
($ret, $out, $err) = run('postgres', q{
SET webflow.api_url = 'http://127.0.0.1:9/v2';
SELECT webflow.list_sites();
});
like($err, qr/WF000/, 'a network failure is an error');
fake_fault({ status => 401, count => 1, match => { method => 'GET', path => '^/v2/sites$' } });
($ret, $out, $err) = run('postgres', q{SELECT webflow.list_sites()});
like($err, qr/WF401/, 'a 401 is an error');
ok(index($printed, $token) < 0, 'no output or error message of any session shows the token');

# ---------------------------------------------------------------------
# SECURITY DEFINER functions pin search_path; dynamic SQL quotes
# ---------------------------------------------------------------------
my $secdef = as_admin(q{
SELECT string_agg(p.oid::regprocedure::text || ' ' || coalesce(array_to_string(p.proconfig, ';'), '(none)'),
                  E'\n' ORDER BY p.oid::regprocedure::text)
FROM pg_proc p
JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'webflow'
WHERE p.prosecdef});
my @secdef = split /\n/, $secdef;
# bind, unbind, sync and retry check their caller in C and switch through
# run_as.c; the five left each say in webflow--1.0--1.1.sql why they are safe
is(join(',', map { (split / /)[0] } @secdef),
	'webflow._check_altered_keys(),webflow._check_dropped_keys(),webflow._drop_bindings(),webflow._truncate_trigger(),webflow.drain(integer)',
	scalar(@secdef) . ' SECURITY DEFINER functions, the documented ones');
for my $f (@secdef)
{
	like($f, qr/ search_path=pg_catalog, pg_temp$/, "pins search_path to pg_catalog, pg_temp: $f");
}
my $nonsecdef_catalog = as_admin(q{
SELECT count(*) FROM pg_proc p
JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'webflow'
WHERE p.prolang = (SELECT oid FROM pg_language WHERE lanname = 'plpgsql')
  AND NOT coalesce(array_to_string(p.proconfig, ';') LIKE 'search_path=%', false)});
is($nonsecdef_catalog, '0', 'every PL/pgSQL function of the extension pins search_path');

# every format() of the install script: %I and %L only, %s only for a regclass
my $script = slurp_file("$root/webflow--1.0.sql") . slurp_file("$root/webflow--1.0--1.1.sql");
my @formats;
while ($script =~ /\bformat\(/g)
{
	my $start = pos($script);
	my ($depth, $i, $quoted) = (1, $start, 0);
	for (; $i < length($script) && $depth > 0; $i++)
	{
		my $c = substr($script, $i, 1);
		if ($c eq "'") { $quoted = !$quoted; next; }
		next if $quoted;
		$depth++ if $c eq '(';
		$depth-- if $c eq ')';
	}
	push @formats, substr($script, $start, $i - 1 - $start);
}
ok(@formats >= 5, scalar(@formats) . ' format() calls in the install and update scripts');
for my $f (@formats)
{
	# the format string: the leading run of adjacent string literals
	my ($literals) = $f =~ /^(\s*(?:'(?:[^']|'')*'\s*)+)/;
	my $fmt = join '', ($literals // '') =~ /'((?:[^']|'')*)'/g;
	my $rest = substr($f, length($literals // ''));
	$rest =~ s/^\s*,\s*//;
	my @args;
	my ($depth, $cur, $quoted) = (0, '', 0);
	for my $c (split //, $rest)
	{
		$quoted = !$quoted if $c eq "'";
		if (!$quoted && $depth == 0 && $c eq ',') { push @args, $cur; $cur = ''; next; }
		$depth++ if !$quoted && $c eq '(';
		$depth-- if !$quoted && $c eq ')';
		$cur .= $c;
	}
	push @args, $cur if $cur =~ /\S/;
	s/^\s+|\s+$//g for @args;
	my @holes = $fmt =~ /%([a-zA-Z%])/g;
	my @bad;
	my $n = 0;
	for my $h (@holes)
	{
		next if $h eq '%';
		my $arg = $args[ $n++ ] // '(missing)';
		push @bad, "%$h <- $arg" unless $h eq 'I' || $h eq 'L' || ($h eq 's' && $arg eq 'source');
	}
	(my $short = $fmt) =~ s/\s+/ /g;
	is(join('; ', @bad), '', 'format() quotes what it interpolates: ' . substr($short, 0, 60));
}
like(as_admin(q{SELECT format_type(atttypid, NULL) FROM pg_attribute
                WHERE attrelid = 'webflow.bindings'::regclass AND attname = 'source'}),
	qr/^regclass$/, 'the %s argument (source) is a regclass, whose output is a quoted name');
unlike($script, qr/EXECUTE\s+'[^']*'\s*\|\|/, 'no EXECUTE of concatenated text');

# curl never runs verbose (it would print the Authorization header)
my $c_sources = join '', map { slurp_file($_) } glob("$root/src/*.c $root/src/*/*.c");
unlike($c_sources, qr/CURLOPT_VERBOSE|CURLOPT_DEBUGFUNCTION/, 'libcurl is never verbose');

# ---------------------------------------------------------------------
# a token rotated in postgresql.conf, then a token file
# ---------------------------------------------------------------------
# set_conf(NAME => VALUE, ...): rewrites those lines of postgresql.conf
sub set_conf
{
	my %set  = @_;
	my $conf = slurp_file($node->data_dir . '/postgresql.conf');
	for my $name (sort keys %set)
	{
		my $line = "$name = '$set{$name}'";
		$conf =~ s/^\Q$name\E = .*$/$line/m or $conf .= "$line\n";
	}
	open(my $out, '>', $node->data_dir . '/postgresql.conf') or die $!;
	print $out $conf;
	close $out;
}

# published(TAG): alice inserts rows named TAG until one is live at the fake
sub published
{
	my ($tag) = @_;
	return wait_until(sub {
			run('alice', qq{INSERT INTO jobs VALUES (10 + (random() * 1000000)::int, '$tag ' || now(), 'Ops')});
			return scalar(grep { ($_->{fieldData}{name} // '') =~ /^\Q$tag\E / } @{ fake_live_items($jobs) }) > 0;
		}, 30, 1);
}

set_conf('webflow.token' => $rotated);
$node->reload;
ok(published('Rotated'), 'after a rotation in postgresql.conf and a reload, rows are published with the new token');

# the token in a file: out of every setting, and read again when it changes
my $token_file = "$fixdir/webflow.token";
open($fh, '>', $token_file) or die $!;
print $fh "$rotated\n";
close $fh;
chmod 0600, $token_file;
set_conf('webflow.token' => '', 'webflow.token_file' => $token_file);
$node->reload;
ok(published('FromFile'), 'with webflow.token_file, rows are published');
open($fh, '>', $token_file) or die $!;
print $fh "$file_token\n";
close $fh;
ok(published('FileRotated'), 'a token rotated in the file is used without a reload');
($ret, $out, $err) = run('alice', q{SELECT webflow.worker_status(), webflow.http_stats()});
ok(index($out . $err, $file_token) < 0, 'worker_status() and http_stats() do not show the file token');

# ---------------------------------------------------------------------
# the server log
# ---------------------------------------------------------------------
my $log = slurp_file($node->logfile);
like($log, qr/DEBUG:/, 'the server log is at debug level');
like($log, qr/LOG:  00000: statement: /, 'the server log has every statement');
ok(length($log) > 100_000, 'the server log is long (' . length($log) . ' bytes)');
ok(index($log, $token) < 0, 'the token never appears in the server log');
ok(index($log, $file_token) < 0, 'the token of webflow.token_file never appears in the server log');
ok(index($printed, $file_token) < 0, 'no output or error message shows the file token');
# PostgreSQL itself logs 'parameter "webflow.token" changed to "..."' when a
# reload changes a setting, whatever its flags: the reason for token_file
note('a token rotated in postgresql.conf is '
	  . (index($log, $rotated) < 0 ? 'not ' : '')
	  . 'in the server log (PostgreSQL logs changed settings on reload)');
# PostgreSQL logs an ALTER SYSTEM statement, token and all, when
# log_statement is ddl or all, before the setting's check runs: so no hint
# of the extension may recommend ALTER SYSTEM SET webflow.token (they name
# webflow.token_file)
note('a token set with ALTER SYSTEM is '
	  . (index($log, $decoy{system}) < 0 ? 'not ' : '')
	  . 'in the server log (PostgreSQL logs the statement)');
my @hints = grep { /HINT:/ } split /\n/, $log;
ok(@hints > 0 && !grep({ /ALTER SYSTEM SET webflow\.token\b(?!_file)/ } @hints),
	scalar(@hints) . ' hints in the server log, none recommends ALTER SYSTEM SET webflow.token');

$node->stop;
done_testing();
