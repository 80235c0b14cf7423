# t/037_fault_attack.pl: a fault tester's attacks on the promise "after any
# fault, once the API is healthy again (and webflow.sync() has run where
# the Designer changed things), the live Webflow site equals the table,
# nothing is duplicated, and no row fails for a reason that is not its
# own".  Each attack is a subtest named for it, against a collection of its
# own (made through the fake's public API, empty at first), and a table of
# its own.
#
# The verdict of every attack, once its faults are gone and its rows have
# settled (and sync() has run where the attack's Designer changed things):
#   - every page of GET /v2/collections/{id}/items/live through the fake's
#     public API (read-only token), the items a visitor sees (not archived,
#     not draft), as "name|slug|description", equals the table's rows
#     (name, slugify(name), description), once each;
#   - SELECT * FROM webflow.verify(table) returns nothing;
#   - no outbox row of the table is 'failed', and none is left over.
#
# The attacks (what 036 and 050 do not do), in this order:
#   - a write whose outcome the item map never learns, then the row set
#     back to the state the map last recorded: the worker SIGKILLed while
#     Webflow carries out an update (then the old values again) or an
#     unpublish (then the same row inserted again); a fast restart of the
#     server instead of the crash; no crash at all, a drain() (worker off)
#     canceled by statement_timeout;
#   - the second step of two-step operations: the staged archive of an item
#     the Designer unpublished (on_delete archive), its answer lost; the
#     slug release after an unpublish_only delete refused with a 401, then
#     the publish after the staged update of the 409'd live update failing,
#     then the row renamed back;
#   - a create whose answer is lost while the Designer gives the new item
#     another slug before the worker looks it up;
#   - a rename whose answer is lost, the table unbound, the row deleted, the
#     table bound again and sync() run;
#   - a lookup answered 200 with a body that parses but has the wrong
#     shape: items that are not objects (slug lookup, items list), an item
#     without an id;
#   - two rows swap names, the update after the slug releases gets a 401,
#     the rows are swapped back;
#   - a 200 to a batch create that lists fewer items than were sent (the
#     fake's keep_items);
#   - deletes of rows whose items the Designer deleted, archived or
#     unpublished, one batch, under each on_delete;
#   - a key changed 1 -> 2 -> 1, the delete after the unpublish and the
#     create of the new key both lost;
#   - a Reference: the referencing row's create lost while its target row
#     is re-keyed (ON UPDATE CASCADE) or deleted (ON DELETE SET NULL);
#   - pagination: five lost creates (the rows renamed since) looked for in
#     the collection's newest items over two pages while the Designer
#     deletes newer items between the two page reads (drain() with the
#     worker off, to order the passes);
#   - sync() while a create and a rename are in flight (their answers
#     lost) and its own read of Webflow fails;
#   - a 401, then webflow.token changed to another valid token (the fake's
#     POST /_admin/tokens);
#   - last, as it stalls the shared rate limiter: a 429 with a huge
#     Retry-After, then the API healthy.
#
# T037_ONLY (a regex) runs only the attacks whose names match.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use JSON::PP;
use IPC::Run ();
use FindBin;
use lib $FindBin::RealBin;
use WebflowTest;

my $t_start = time;
my %env = start_fake();
my $T = JSON::PP::true;
my $F = JSON::PP::false;

my $node = new_node('fault_attack',
	'webflow.timeout'         => "'1s'",
	'webflow.connect_timeout' => "'1s'",
	'webflow.rate_limit'      => 6000);

sub sql { return $node->safe_psql('postgres', $_[0]); }

sub psql_quiet
{
	my ($q) = @_;
	my ($out, $err) = ('', '');
	$node->psql('postgres', $q, stdout => \$out, stderr => \$err);
	return $out;
}

# ---- the fake: collections, the Designer ----------------------------------


# new_collection(NAME, FIELDS...): a new, empty collection of the test site
# (name, slug, description, and FIELDS), made through the public API
sub new_collection { return fake_collection('attack', @_); }

# designer(METHOD, PATH, BODY): an edit in the Webflow Designer (never faulted)
sub designer
{
	my ($method, $path, $body) = @_;
	my ($st, $d) = fake_api($method, $path, $body, actor => 'designer');
	die "designer $method $path: $st\n" unless $st >= 200 && $st < 300;
	return $d;
}

# item_of(COLL, NAME): the fake's item (admin view) whose staged or live name is NAME
sub items_named
{
	my ($coll, $name) = @_;
	return [ grep { ($_->{fieldData}{name} // '') eq $name
			  || (($_->{liveFieldData} // {})->{name} // '') eq $name } @{ fake_items($coll) } ];
}

sub faults_left { return scalar @{ fake_admin('GET', '/faults') }; }

# ---- the verdict -----------------------------------------------------------

sub site_view
{
	my ($coll) = @_;
	return [ sort map { join('|', map { $_ // '' } @{ $_->{fieldData} }{qw(name slug description)}) }
		  grep { !$_->{isArchived} && !$_->{isDraft} } @{ fake_pages($coll) } ];
}

# set_conf(NAME, VALUE): ALTER SYSTEM (VALUE undef: RESET) and reload
sub set_conf
{
	my ($name, $value) = @_;
	sql(defined $value ? "ALTER SYSTEM SET $name = '$value'" : "ALTER SYSTEM RESET $name");
	sql('SELECT pg_reload_conf()');
	sleep(0.5);    # the worker rereads its settings at the top of its loop
}

# drain_async(): webflow.drain() in a session of its own; returns a handle
# for drain_wait()
sub drain_async
{
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start([ 'psql', '-X', '-q', '-A', '-t', '-d', $node->connstr('postgres'),
			'-c', 'SELECT webflow.drain()' ], '>', \$out, '2>', \$err, IPC::Run::timeout(60));
	return [ $h, \$out, \$err ];
}

sub drain_wait
{
	my ($d) = @_;
	eval { $d->[0]->finish; 1 } or eval { $d->[0]->kill_kill };
	return ${ $d->[1] } . ${ $d->[2] };
}

sub table_view
{
	my ($table) = @_;
	my $out = sql(qq{SELECT name || '|' || webflow.slugify(name) || '|' || coalesce(description, '') FROM $table});
	return [ sort grep { length } split /\n/, $out ];
}

sub n_outbox
{
	my ($table, $state) = @_;
	my $cond = $state ? "AND o.state = '$state'" : '';
	return psql_quiet(qq{SELECT count(*) FROM webflow.outbox o JOIN webflow.bindings b ON b.id = o.binding_id
	                     WHERE b.source = '$table'::regclass $cond});
}

sub outbox_report
{
	my ($table) = @_;
	return psql_quiet(qq{SELECT string_agg(format('  #%s key %s %s %s attempts=%s status=%s maybe_sent=%s error=%s',
	                       o.id, o.row_key, o.op, o.state, o.attempts, coalesce(o.last_status::text, '-'),
	                       o.maybe_sent, coalesce(o.last_error, '-')), E'\n' ORDER BY o.id)
	                     FROM webflow.outbox o JOIN webflow.bindings b ON b.id = o.binding_id
	                     WHERE b.source = '$table'::regclass});
}

sub verify_report
{
	my ($table) = @_;
	my ($out, $err) = ('', '');
	$node->psql('postgres',
		qq{SELECT difference || ' key=' || coalesce(row_key, '-') || ' item=' || coalesce(item_id, '-')
		          || coalesce(' fields=' || array_to_string(fields, ','), '')
		   FROM webflow.verify('$table')}, stdout => \$out, stderr => \$err);
	return $err ? "error: $err" : $out;
}

sub items_report
{
	my ($coll) = @_;
	return join("\n", map {
			sprintf('  %s slug=%s name=%s desc=%s | live=%s liveSlug=%s liveName=%s | archived=%s draft=%s',
				$_->{id}, $_->{fieldData}{slug} // '-', $_->{fieldData}{name} // '-',
				$_->{fieldData}{description} // '-',
				$_->{isLive} ? 'yes' : 'no', ($_->{liveFieldData} // {})->{slug} // '-',
				($_->{liveFieldData} // {})->{name} // '-',
				$_->{isArchived} ? 'yes' : 'no', $_->{isDraft} ? 'yes' : 'no')
	} @{ fake_items($coll) });
}

sub requests_text
{
	my ($seq, $coll) = @_;
	my @log = grep { !$_->{actor} && (!$coll || $_->{path} =~ /\Q$coll\E/) } @{ fake_log($seq) };
	my $n = @log;
	splice(@log, 40) if @log > 40;
	return join("\n", map {
			my $p = $_->{path};
			$p =~ s{^/v2/collections/[0-9a-f]{24}}{C};
			my $b = $_->{body} ? JSON::PP->new->canonical->encode($_->{body}) : '';
			$b = substr($b, 0, 160) . '...' if length($b) > 160;
			sprintf('  %s %s%s -> %s%s %s', $_->{method}, $p,
				($_->{query_string} ? "?$_->{query_string}" : ''),
				$_->{status} // 'dropped', $_->{fault} ? " [$_->{fault}]" : '', $b)
	} @log) . ($n > 40 ? sprintf("\n  ... (%d in all)", $n) : '');
}

# settle(TABLE, TIMEOUT): waits until the table's outbox rows are gone, or
# one failed
sub settle
{
	my ($table, $timeout) = @_;
	return wait_until(sub { n_outbox($table, 'failed') > 0 || n_outbox($table) == 0 }, $timeout // 20, 0.2);
}

# verdict(NAME, TABLE, COLL, SEQ): the promise
sub verdict
{
	my ($name, $table, $coll, $seq) = @_;
	my $site = site_view($coll);
	my $rows = table_view($table);
	my $ok = is_deeply($site, $rows, "$name: the live site shows exactly the table's rows, once each");
	my $verify = verify_report($table);
	$ok &= is($verify, '', "$name: webflow.verify() finds no difference");
	$ok &= is(n_outbox($table, 'failed'), '0', "$name: no outbox row failed");
	$ok &= is(n_outbox($table), '0', "$name: nothing left in the outbox");
	unless ($ok && !$ENV{T037_VERBOSE})
	{
		diag("$name: table rows:\n  " . join("\n  ", @$rows));
		diag("$name: live site:\n  " . join("\n  ", @$site));
		diag("$name: verify():\n$verify") if $verify;
		diag("$name: items at the fake:\n" . items_report($coll));
		diag("$name: item map:\n" . psql_quiet(qq{SELECT string_agg(format('  %s -> %s slug=%s hash=%s', source_key, item_id,
		                  coalesce(slug, 'NULL'), coalesce(payload_hash, 'NULL')), E'\n' ORDER BY source_key)
		                  FROM webflow.items WHERE collection_id = '$coll'}));
		diag("$name: outbox:\n" . (outbox_report($table) || '  (none)'));
		diag("$name: requests:\n" . requests_text($seq, $coll)) if defined $seq;
	}
	return $ok;
}

# cleanup(): no fault left, no pause left behind
sub cleanup
{
	fake_clear_faults();
	# (settings an attack that died half-way may have left changed)
	for my $c ([ 'webflow.worker_enabled', 'on' ], [ 'webflow.timeout', '1s' ], [ 'webflow.token', 'test-token' ])
	{
		set_conf($c->[0], undef) if psql_quiet("SHOW $c->[0]") ne $c->[1];
	}
	if (psql_quiet(q{SELECT webflow.worker_status()->>'pausedBecause' IS NOT NULL}) eq 't')
	{
		sql(q{SELECT webflow.retry()});
	}
}

sub attack
{
	my ($name, $code) = @_;
	return if $ENV{T037_ONLY} && $name !~ /$ENV{T037_ONLY}/;
	my $t0 = time;
	subtest($name, $code);
	cleanup();
	note(sprintf('%s: %.1f s', $name, time - $t0));
}

# crash_worker(): SIGKILL of the worker (the postmaster restarts every
# process); returns once the server and a new worker are up
sub crash_worker
{
	my $pid = worker_pid($node);
	die "no worker\n" unless $pid;
	kill 'KILL', $pid;
	wait_until(sub { $node->psql('postgres', 'SELECT 1') != 0 }, 5, 0.05);
	wait_until(sub { $node->psql('postgres', 'SELECT 1') == 0 }, 30, 0.2) or die "the server did not come back\n";
	wait_until(sub { my $p = worker_pid($node); $p ne '' && $p ne $pid }, 15, 0.1);
}

# new_table(TABLE, COLL, OPTIONS): a table (id int key, name, description)
# bound to COLL
sub new_table
{
	my ($table, $coll, $options) = @_;
	$options //= '{}';
	sql(qq{CREATE TABLE $table (id int PRIMARY KEY, name text NOT NULL, description text);
	       SELECT webflow.bind('$table', '$coll', '$options');});
}

# ===========================================================================
# 1. the worker killed while Webflow carries out a write, then the row is
#    changed back to the state the item map last recorded
# ===========================================================================
attack 'crash during an update, then the row changed back' => sub {
	my $coll = new_collection('A1');
	new_table('a1', $coll);
	sql(q{INSERT INTO a1 VALUES (1, 'A1 Row', 'first')});
	settle('a1');
	my $seq = fake_log_seq();
	fake_fault({ match => { kind => 'patch_live' }, process => $T, delay_ms => 6000, count => 1 });
	sql(q{UPDATE a1 SET description = 'second' WHERE id = 1});
	ok(wait_until(sub { grep { ($_->{fieldData}{description} // '') eq 'second' } @{ fake_items($coll) } }, 10, 0.05),
		'Webflow applied the update (its answer is not back yet)');
	sql(q{UPDATE a1 SET description = 'first' WHERE id = 1});
	crash_worker();
	fake_clear_faults();
	settle('a1', 20);
	verdict('crash during an update, then the row changed back', 'a1', $coll, $seq);
};

attack 'crash during an unpublish, then the row inserted again' => sub {
	my $coll = new_collection('A2');
	new_table('a2', $coll);
	sql(q{INSERT INTO a2 VALUES (1, 'A2 Row', 'same')});
	settle('a2');
	my $seq = fake_log_seq();
	fake_fault({ match => { kind => 'delete_live' }, process => $T, delay_ms => 6000, count => 1 });
	sql(q{DELETE FROM a2 WHERE id = 1});
	ok(wait_until(sub { my $i = items_named($coll, 'A2 Row'); @$i && !$i->[0]{isLive} }, 10, 0.05),
		'Webflow unpublished the item (its answer is not back yet)');
	sql(q{INSERT INTO a2 VALUES (1, 'A2 Row', 'same')});
	crash_worker();
	fake_clear_faults();
	settle('a2', 20);
	verdict('crash during an unpublish, then the row inserted again', 'a2', $coll, $seq);
};

# ===========================================================================
# 2. the second step of two-step operations
# ===========================================================================
attack 'archive of an item the Designer unpublished, staged archive answer lost' => sub {
	my $coll = new_collection('A3');
	new_table('a3', $coll, '{"on_delete": "archive"}');
	sql(q{INSERT INTO a3 VALUES (1, 'A3 Gone', 'x'), (2, 'A3 Stays', 'y')});
	settle('a3');
	my ($item) = @{ items_named($coll, 'A3 Gone') };
	designer('DELETE', "/collections/$coll/items/$item->{id}/live");    # unpublished in the Designer
	my $seq = fake_log_seq();
	# the live PATCH gets 409 (not published), the staged PATCH is carried out, its answer lost
	fake_fault({ match => { kind => 'patch_staged' }, process => $T, status => 500, count => 1 });
	sql(q{DELETE FROM a3 WHERE id = 1});
	ok(wait_until(sub { faults_left() == 0 }, 10, 0.05), 'the staged archive met the fault');
	settle('a3', 20);
	sql(q{SELECT webflow.sync('a3')});
	settle('a3', 20);
	verdict('archive of an item the Designer unpublished, staged archive answer lost', 'a3', $coll, $seq);
};

attack 'unpublish_only: 401 on the slug release, renamed, publish of the 409 update fails, renamed back' => sub {
	my $coll = new_collection('A4');
	new_table('a4', $coll, '{"on_delete": "unpublish_only"}');
	sql(q{INSERT INTO a4 VALUES (1, 'A4 One', 'd')});
	settle('a4');
	my $seq = fake_log_seq();
	fake_fault({ match => { kind => 'patch_staged' }, status => 401, count => 1 });
	sql(q{DELETE FROM a4 WHERE id = 1});
	ok(wait_until(sub { faults_left() == 0 }, 10, 0.05), 'the slug release got the 401');
	ok(wait_for($node, q{SELECT webflow.worker_status()->>'pausedBecause' IS NOT NULL}, 't', 10), 'the queue is paused');
	sql(q{INSERT INTO a4 VALUES (1, 'A4 Two', 'd')});
	fake_fault({ match => { kind => 'publish' }, status => 500, count => 1 });
	sql(q{SELECT pg_reload_conf()});    # the token is fine: resume
	ok(wait_until(sub { faults_left() == 0 }, 15, 0.05), 'the publish of the staged update got a 500');
	sql(q{UPDATE a4 SET name = 'A4 One' WHERE id = 1});
	settle('a4', 20);
	verdict('unpublish_only: 401 on the slug release, renamed, publish of the 409 update fails, renamed back', 'a4', $coll, $seq);
};

# ===========================================================================
# 3. a lookup while the Designer changed the item
# ===========================================================================
attack 'lost create, the Designer changes the new item\'s slug before the lookup' => sub {
	my $coll = new_collection('A6');
	new_table('a6', $coll);
	my $seq = fake_log_seq();
	fake_fault({ match => { kind => 'post_live' }, process => $T, delay_ms => 1600, count => 1 });
	sql(q{INSERT INTO a6 VALUES (1, 'A6 Row', 'd')});
	ok(wait_until(sub { @{ items_named($coll, 'A6 Row') } == 1 }, 10, 0.02), 'Webflow made the item (answer lost)');
	my ($item) = @{ items_named($coll, 'A6 Row') };
	designer('PATCH', "/collections/$coll/items/$item->{id}/live", { fieldData => { slug => 'a6-row-by-the-designer' } });
	settle('a6', 20);
	sql(q{SELECT webflow.sync('a6')});
	settle('a6', 20);
	verdict('lost create, the Designer changes the new item\'s slug before the lookup', 'a6', $coll, $seq);
};

# ===========================================================================
# 4. unbind and bind again
# ===========================================================================
attack 'lost rename, unbind, row deleted, bind again, sync()' => sub {
	my $coll = new_collection('A7');
	new_table('a7', $coll);
	sql(q{INSERT INTO a7 VALUES (1, 'A7 Row', 'd'), (2, 'A7 Other', 'e')});
	settle('a7');
	my $seq = fake_log_seq();
	fake_fault({ match => { kind => 'patch_live' }, process => $T, delay_ms => 1600, count => 1 });
	sql(q{UPDATE a7 SET name = 'A7 Renamed' WHERE id = 1});
	ok(wait_until(sub { faults_left() == 0 && n_outbox('a7', 'sending') == 0 }, 10, 0.05), 'the rename timed out');
	sql(q{SELECT webflow.unbind('a7')});
	sql(q{DELETE FROM a7 WHERE id = 1});
	sql(qq{SELECT webflow.bind('a7', '$coll')});
	sql(q{SELECT webflow.sync('a7')});
	settle('a7', 20);
	verdict('lost rename, unbind, row deleted, bind again, sync()', 'a7', $coll, $seq);
};

# ===========================================================================
# 5. answers that parse but have the wrong shape
# ===========================================================================
for my $f (
	[ 'slug lookup', 1, 'lookup_slug', 'items that are not objects', [ 'aaaaaaaaaaaaaaaaaaaaaaaa' ] ],
	[ 'items list',  5, 'list_items',  'items that are not objects', [ 'aaaaaaaaaaaaaaaaaaaaaaaa' ] ],
	[ 'slug lookup', 1, 'lookup_slug', 'an item without an id',      [ { fieldData => { name => 'x', slug => 'a9-row-1' } } ] ],)
{
	my ($lookup, $rows, $kind, $what, $items) = @$f;
	my $name = "lost create; the $lookup answered 200 with $what";
	attack $name => sub {
		(my $t = "a9_${kind}_$what") =~ s/\W+/_/g;
		$t = substr($t, 0, 40);
		my $coll = new_collection("A9 $kind $what");
		new_table($t, $coll);
		my $seq = fake_log_seq();
		my $log_at = -s $node->logfile;
		fake_fault([
			{ match => { kind => 'post_live' }, process => $T, delay_ms => 1600, count => 1 },
			{ match => { kind => $kind }, body => { items => $items, pagination => { limit => 100, offset => 0, total => 1 } }, count => 1 } ]);
		sql(qq{INSERT INTO $t SELECT i, 'A9 Row ' || i, 'd' FROM generate_series(1, $rows) i});
		ok(wait_until(sub { faults_left() == 0 }, 15, 0.05), "the $lookup got the answer");
		sleep(1);
		wait_until(sub { $node->psql('postgres', 'SELECT 1') == 0 }, 30, 0.2);
		settle($t, 20);
		my @crashes = slurp_log_since($node, $log_at)
		  =~ /((?:background worker "[^"]*"|server process) \(PID \d+\) was terminated by signal (?!9:)\d+: [^\n]*)/g;
		is(scalar(@crashes), 0, "$name: no server process crashed") or diag(join("\n", @crashes));
		verdict($name, $t, $coll, $seq);
	};
}


# the same with a fast restart of the server (SIGTERM of the worker) instead
# of a crash: any restart while a write is in flight
attack 'fast restart during an update, then the row changed back' => sub {
	my $coll = new_collection('A1r');
	new_table('a1r', $coll);
	sql(q{INSERT INTO a1r VALUES (1, 'A1r Row', 'first')});
	settle('a1r');
	my $seq = fake_log_seq();
	fake_fault({ match => { kind => 'patch_live' }, process => $T, delay_ms => 6000, count => 1 });
	sql(q{UPDATE a1r SET description = 'second' WHERE id = 1});
	ok(wait_until(sub { grep { ($_->{fieldData}{description} // '') eq 'second' } @{ fake_items($coll) } }, 10, 0.05),
		'Webflow applied the update (its answer is not back yet)');
	sql(q{UPDATE a1r SET description = 'first' WHERE id = 1});
	$node->restart;
	fake_clear_faults();
	settle('a1r', 20);
	verdict('fast restart during an update, then the row changed back', 'a1r', $coll, $seq);
};

# the same with no crash at all: a drain() (pg_cron's way, worker off)
# canceled by statement_timeout while Webflow carries out its update
attack 'drain() canceled by statement_timeout during an update, then the row changed back' => sub {
	my $coll = new_collection('A1c');
	new_table('a1c', $coll);
	sql(q{INSERT INTO a1c VALUES (1, 'A1c Row', 'first')});
	settle('a1c');
	set_conf('webflow.worker_enabled', 'off');
	set_conf('webflow.timeout', '10s');    # (the request waits for its answer: the cancel comes first)
	my $seq = fake_log_seq();
	fake_fault({ match => { kind => 'patch_live' }, process => $T, delay_ms => 4000, count => 1 });
	sql(q{UPDATE a1c SET description = 'second' WHERE id = 1});
	my ($out, $err) = ('', '');
	$node->psql('postgres', q{SET statement_timeout = '1500ms'; SELECT webflow.drain();}, stdout => \$out, stderr => \$err);
	like($err, qr/statement timeout/, 'drain() was canceled');
	ok(scalar(grep { ($_->{fieldData}{description} // '') eq 'second' } @{ fake_items($coll) }),
		'Webflow applied the update (its answer never came back)');
	sql(q{UPDATE a1c SET description = 'first' WHERE id = 1});
	fake_clear_faults();
	note('drain: ' . drain_wait(drain_async()));
	set_conf('webflow.timeout', undef);
	set_conf('webflow.worker_enabled', undef);
	settle('a1c', 20);
	verdict('drain() canceled by statement_timeout during an update, then the row changed back', 'a1c', $coll, $seq);
};

# ===========================================================================
# two rows swap names: the slug releases go through, the update after them
# gets a 401; the rows are swapped back while the queue is paused
# ===========================================================================
attack 'swap: 401 on the update after the slug releases, then swapped back' => sub {
	my $coll = new_collection('A8');
	new_table('a8', $coll);
	sql(q{INSERT INTO a8 VALUES (1, 'A8 Left', 'l'), (2, 'A8 Right', 'r')});
	settle('a8');
	my $seq = fake_log_seq();
	# the batch, [row 1], [row 2] get their 400s, the slug releases go
	# through; the fourth live PATCH (both rows again) gets the 401
	fake_fault([ { match => { kind => 'patch_live' }, delay_ms => 1, count => 3 },
			{ match => { kind => 'patch_live' }, status => 401, count => 1 } ]);
	sql(q{UPDATE a8 SET name = CASE id WHEN 1 THEN 'A8 Right' ELSE 'A8 Left' END});
	ok(wait_until(sub { faults_left() == 0 }, 10, 0.05), 'the update after the releases got the 401');
	ok(wait_for($node, q{SELECT webflow.worker_status()->>'pausedBecause' IS NOT NULL}, 't', 10), 'the queue is paused');
	sql(q{UPDATE a8 SET name = CASE id WHEN 1 THEN 'A8 Left' ELSE 'A8 Right' END});
	sql(q{SELECT pg_reload_conf()});    # the token is fine: resume
	settle('a8', 20);
	verdict('swap: 401 on the update after the slug releases, then swapped back', 'a8', $coll, $seq);
};

# ===========================================================================
# a 200 that lists fewer items than the create made
# ===========================================================================
attack 'a 200 to a batch create that lists fewer items than were sent' => sub {
	my $coll = new_collection('A10');
	new_table('a10', $coll);
	my $seq = fake_log_seq();
	fake_fault({ match => { kind => 'post_live' }, keep_items => 1, count => 1 });
	sql(q{INSERT INTO a10 SELECT i, 'A10 Row ' || i, 'd' FROM generate_series(1, 3) i});
	ok(wait_until(sub { faults_left() == 0 }, 10, 0.05), 'the create got the short answer');
	settle('a10', 20);
	verdict('a 200 to a batch create that lists fewer items than were sent', 'a10', $coll, $seq);
};

# ===========================================================================
# deletes of rows whose items the Designer deleted, archived or unpublished
# ===========================================================================
for my $on_delete ('unpublish', 'archive', 'unpublish_only')
{
	my $name = "deletes of rows whose items the Designer deleted, archived, unpublished (on_delete $on_delete)";
	attack $name => sub {
		(my $t = "a11_$on_delete") =~ s/\W//g;
		my $coll = new_collection("A11 $on_delete");
		new_table($t, $coll, qq{{"on_delete": "$on_delete"}});
		sql(qq{INSERT INTO $t SELECT i, 'A11 Row ' || i, 'd' FROM generate_series(1, 5) i});
		settle($t);
		my %id = map { (($_->{fieldData}{name} =~ /(\d+)$/)[0] => $_->{id}) } @{ fake_items($coll) };
		my $seq = fake_log_seq();
		designer('DELETE', "/collections/$coll/items/$id{1}");
		designer('PATCH', "/collections/$coll/items/$id{2}/live", { isArchived => $T });
		designer('DELETE', "/collections/$coll/items/$id{3}/live");
		sql(qq{DELETE FROM $t WHERE id <= 4});
		settle($t, 20);
		sql(qq{SELECT webflow.sync('$t')});
		settle($t, 20);
		verdict($name, $t, $coll, $seq);
	};
}

# ===========================================================================
# key changes back and forth with lost answers
# ===========================================================================
attack 'key 1 -> 2 -> 1: the delete after the unpublish and the create both lost' => sub {
	my $coll = new_collection('A12');
	new_table('a12', $coll);
	sql(q{INSERT INTO a12 VALUES (1, 'A12 Row', 'd')});
	settle('a12');
	my $seq = fake_log_seq();
	fake_fault([ { match => { kind => 'delete_staged' }, process => $T, status => 500, count => 1 },
			{ match => { kind => 'post_live' }, process => $T, delay_ms => 1600, count => 1 } ]);
	sql(q{UPDATE a12 SET id = 2 WHERE id = 1});
	ok(wait_until(sub { faults_left() == 0 }, 10, 0.05), 'both answers were lost');
	sql(q{UPDATE a12 SET id = 1 WHERE id = 2});
	settle('a12', 25);
	verdict('key 1 -> 2 -> 1: the delete after the unpublish and the create both lost', 'a12', $coll, $seq);
};

# ===========================================================================
# references: the referencing row's create is lost while its target row is
# re-keyed or deleted
# ===========================================================================
for my $what ('re-keyed', 'deleted')
{
	my $name = "lost create of a row whose referenced row is then $what";
	attack $name => sub {
		(my $sfx = $what) =~ s/\W//g;
		my $acoll = new_collection("A13 authors $sfx");
		my $bcoll = new_collection("A13 books $sfx",
			{ type => 'Reference', displayName => 'Author', slug => 'author', validations => { collectionId => $acoll } });
		sql(qq{CREATE TABLE a13a_$sfx (id int PRIMARY KEY, name text NOT NULL, description text);
		       SELECT webflow.bind('a13a_$sfx', '$acoll');
		       CREATE TABLE a13b_$sfx (id int PRIMARY KEY, name text NOT NULL, description text,
		                               author int REFERENCES a13a_$sfx ON UPDATE CASCADE ON DELETE SET NULL);
		       SELECT webflow.bind('a13b_$sfx', '$bcoll');
		       INSERT INTO a13a_$sfx VALUES (1, 'A13 Author $sfx', 'a');});
		settle("a13a_$sfx");
		my $seq = fake_log_seq();
		fake_fault({ match => { kind => 'post_live', path => $bcoll }, process => $T, delay_ms => 1600, count => 1 });
		sql(qq{INSERT INTO a13b_$sfx VALUES (1, 'A13 Book $sfx', 'b', 1)});
		ok(wait_until(sub { @{ items_named($bcoll, "A13 Book $sfx") } == 1 }, 10, 0.02), 'Webflow made the book (answer lost)');
		sql($what eq 're-keyed' ? qq{UPDATE a13a_$sfx SET id = 2 WHERE id = 1} : qq{DELETE FROM a13a_$sfx WHERE id = 1});
		settle("a13b_$sfx", 25);
		settle("a13a_$sfx", 10);
		verdict("$name (authors)", "a13a_$sfx", $acoll, $seq);
		verdict("$name (books)", "a13b_$sfx", $bcoll, $seq);
		my $want = psql_quiet(qq{SELECT coalesce((SELECT i.item_id FROM webflow.items i, a13b_$sfx b
		                         WHERE i.collection_id = '$acoll' AND i.source_key = b.author::text), '')});
		my ($book) = grep { ($_->{fieldData}{name} // '') eq "A13 Book $sfx" } @{ fake_pages($bcoll) };
		is(($book // {})->{fieldData}{author} // '', $want, "$name: the live book names its author's item (or none)");
	};
}

# ===========================================================================
# pagination: the worker pages through the newest items to find five lost
# creates (renamed since) while the Designer deletes newer items
# ===========================================================================
attack 'lost creates of renamed rows, the Designer deletes newer items while the worker pages' => sub {
	my $coll = new_collection('A14');
	new_table('a14', $coll);
	set_conf('webflow.worker_enabled', 'off');
	my $seq = fake_log_seq();
	fake_fault({ match => { kind => 'post_live' }, process => $T, delay_ms => 1600, count => 1 });
	sql(q{INSERT INTO a14 SELECT i, 'A14 Lost ' || i, 'd' FROM generate_series(1, 5) i});
	note('drain: ' . drain_wait(drain_async()));
	is(scalar(grep { $_->{fieldData}{name} =~ /^A14 Lost/ } @{ fake_items($coll) }), 5, 'Webflow made the five items (answer lost)');
	sql(q{INSERT INTO a14 SELECT i, 'A14 Newer ' || i, 'd' FROM generate_series(101, 200) i});
	note('drain: ' . drain_wait(drain_async()));    # (the lost rows are not due yet)
	sql(q{UPDATE a14 SET name = name || ' renamed' WHERE id <= 5});
	my @newer = map { $_->{id} } grep { $_->{fieldData}{name} =~ /^A14 Newer/ } @{ fake_items($coll) };
	# (the page is read at once, its answer comes within webflow.timeout)
	fake_fault({ match => { kind => 'list_items' }, process => $T, delay_ms => 700, count => 1 });
	my $d = drain_async();
	ok(wait_until(sub { faults_left() == 0 }, 15, 0.01), 'the worker reads the first page of the newest items');
	designer('DELETE', "/collections/$coll/items", { items => [ map { { id => $_ } } @newer[0 .. 4] ] });
	note('drain: ' . drain_wait($d));
	set_conf('webflow.worker_enabled', undef);
	settle('a14', 20);
	sql(q{SELECT webflow.sync('a14')});
	settle('a14', 20);
	verdict('lost creates of renamed rows, the Designer deletes newer items while the worker pages', 'a14', $coll, $seq);
};

# ===========================================================================
# sync() while the faults go on and creates and renames are in flight
# ===========================================================================
attack 'sync() while a create and a rename are in flight and the reads fail' => sub {
	my $coll = new_collection('A15');
	new_table('a15', $coll);
	sql(q{INSERT INTO a15 VALUES (1, 'A15 Old', 'd')});
	settle('a15');
	my $seq = fake_log_seq();
	fake_fault([ { match => { kind => 'post_live' }, process => $T, delay_ms => 1600, count => 1 },
			{ match => { kind => 'patch_live' }, process => $T, delay_ms => 1600, count => 1 },
			{ match => { kind => 'list_live' }, status => 500, count => 1 } ]);
	sql(q{INSERT INTO a15 VALUES (2, 'A15 New', 'd'); UPDATE a15 SET name = 'A15 Old renamed' WHERE id = 1;});
	ok(wait_until(sub { @{ items_named($coll, 'A15 New') } == 1 }, 10, 0.02), 'the create is in flight');
	my ($out, $err) = ('', '');
	$node->psql('postgres', q{SELECT webflow.sync('a15')}, stdout => \$out, stderr => \$err);
	note("sync (Webflow unreadable): $out $err");
	$node->psql('postgres', q{SELECT webflow.sync('a15')}, stdout => \$out, stderr => \$err);
	note("sync: $out $err");
	settle('a15', 25);
	verdict('sync() while a create and a rename are in flight and the reads fail', 'a15', $coll, $seq);
};

# ===========================================================================
# a 401, then the token changed to another valid one
# ===========================================================================
attack '401, then webflow.token changed to another valid token' => sub {
	my $coll = new_collection('A16');
	new_table('a16', $coll);
	fake_admin('POST', '/tokens', { token => 'second-token', like => 'test-token' });
	my $seq = fake_log_seq();
	fake_fault({ match => { kind => 'post_live' }, status => 401, count => 1 });
	sql(q{INSERT INTO a16 VALUES (1, 'A16 Row', 'd')});
	ok(wait_for($node, q{SELECT webflow.worker_status()->>'pausedBecause' IS NOT NULL}, 't', 10), 'the queue is paused');
	set_conf('webflow.token', 'second-token');
	settle('a16', 8);
	verdict('401, then webflow.token changed to another valid token', 'a16', $coll, $seq);
	set_conf('webflow.token', undef);
};

# ===========================================================================
# last: a 429 whose Retry-After is huge stalls the shared limiter
# ===========================================================================
attack '429 with a huge Retry-After, then the API is healthy' => sub {
	my $coll = new_collection('A17');
	new_table('a17', $coll);
	my $seq = fake_log_seq();
	fake_fault({ match => { kind => 'post_live' }, status => 429, retry_after => 86400, count => 1 });
	sql(q{INSERT INTO a17 VALUES (1, 'A17 Row', 'd')});
	ok(wait_until(sub { faults_left() == 0 }, 10, 0.05), 'the create got the 429');
	sql(q{SELECT webflow.retry(false)});
	sql(q{SELECT pg_reload_conf()});
	settle('a17', 8);
	verdict('429 with a huge Retry-After, then the API is healthy', 'a17', $coll, $seq)
	  or diag('worker_status: ' . psql_quiet(q{SELECT webflow.worker_status()}));
};

note(sprintf('the file ran %.0f s', time - $t_start));
$node->stop;
done_testing();
