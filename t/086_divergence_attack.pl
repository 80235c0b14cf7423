# t/086_divergence_attack.pl: a tester's attempts to break the promise
# "nothing diverges": after any fault (lost answers, 5xx, 401, worker
# kills) and the Designer's edits, once the faults stop and the worker
# drains (and, for the Designer's edits, after webflow.sync()), what a
# site visitor sees equals the table: nothing missing, extra, stale or
# duplicated, no row failed for a reason that is not its own, nothing
# stuck.  The attempts replay, deterministically, orderings the chaos test
# (t/050) met by chance: rows trading slugs across passes, lost answers
# followed by deletes, renames and key changes.
#
# Each attempt is one attempt('name', $held, $detail) asserting that the
# attack FAILS; a failing one is a BREAK, reported with the table, the
# site, the item map, the outbox and the extension's requests.  The
# verdict is read from the live items of every page through the public
# API (read-only token), never from the fake's state.  The end prints
# "divergence-attack: N attempts, M breaks".
#
# webflow.max_attempts is 4 here, so that a row that would fail in the end
# under the default (10, with backoffs up to five minutes) fails within
# seconds.
#
# T086_ONLY (a regex) runs only the attempts whose names match.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use JSON::PP;
use FindBin;
use lib $FindBin::RealBin;
use WebflowTest;

my $t_start = time;
start_fake();
my $T = JSON::PP::true;

my ($attempts, $breaks, @broken) = (0, 0);

my $node = new_node('divergence_attack',
	'webflow.timeout'         => "'1s'",
	'webflow.connect_timeout' => "'1s'",
	'webflow.max_attempts'    => 4,
	'webflow.rate_limit'      => 6000);

sub sql { return $node->safe_psql('postgres', $_[0]); }

sub psql_quiet
{
	my ($q) = @_;
	my ($out, $err) = ('', '');
	$node->psql('postgres', $q, stdout => \$out, stderr => \$err);
	return $out;
}

# attempt(NAME, HELD, DETAIL): one attack; HELD false is a BREAK
sub attempt
{
	my ($name, $held, $why) = @_;
	die "attempt '$name': called with " . scalar(@_) . " arguments\n" unless @_ == 3;
	$attempts++;
	unless ($held) { $breaks++; push @broken, $name; diag("BREAK: $name:\n" . ($why // '')); }
	ok($held, $name);
}

# ---- the fake: collections, the Designer ----------------------------------


# new_collection(NAME): a new, empty collection (name, slug, description)
sub new_collection { return fake_collection('divergence', @_); }

# designer(METHOD, PATH, BODY): an edit in the Webflow Designer (never faulted)
sub designer
{
	my ($method, $path, $body) = @_;
	my ($st, $d) = fake_api($method, $path, $body, actor => 'designer');
	die "designer $method $path: $st\n" unless $st >= 200 && $st < 300;
	return $d;
}

sub faults_left { return scalar @{ fake_admin('GET', '/faults') }; }

# new_table(TABLE, COLL, OPTIONS): a table (id int key, name, description)
# bound to COLL
sub new_table
{
	my ($table, $coll, $options) = @_;
	$options //= '{}';
	sql(qq{CREATE TABLE $table (id int PRIMARY KEY, name text NOT NULL, description text);
	       SELECT webflow.bind('$table', '$coll', '$options');});
}

# ---- the verdict -----------------------------------------------------------

# site_view(COLL, LIVE, THEIRS): what a visitor sees, every page,
# "name|slug|description", but the items of ids THEIRS (the Designer's own)
sub site_view
{
	my ($coll, $live, $theirs) = @_;
	my %skip = map { $_ => 1 } @{ $theirs // [] };
	return [ sort map { join('|', map { $_ // '' } @{ $_->{fieldData} }{qw(name slug description)}) }
		  grep { !$_->{isArchived} && !$_->{isDraft} && !$skip{ $_->{id} } } @{ fake_pages($coll, live => $live // 1) } ];
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

# settle(TABLE, TIMEOUT): waits until the table's outbox rows are gone, or
# one failed
sub settle
{
	my ($table, $timeout) = @_;
	return wait_until(sub { n_outbox($table, 'failed') > 0 || n_outbox($table) == 0 }, $timeout // 20, 0.2);
}

sub items_report
{
	my ($coll) = @_;
	return join("\n", map {
			sprintf('  %s slug=%s name=%s desc=%s | live=%s liveSlug=%s | archived=%s draft=%s',
				$_->{id}, $_->{fieldData}{slug} // '-', $_->{fieldData}{name} // '-',
				$_->{fieldData}{description} // '-', $_->{isLive} ? 'yes' : 'no',
				($_->{liveFieldData} // {})->{slug} // '-',
				$_->{isArchived} ? 'yes' : 'no', $_->{isDraft} ? 'yes' : 'no')
	} @{ fake_items($coll) });
}

# requests_text(SEQ, COLL): the extension's requests to COLL since SEQ
sub requests_text
{
	my ($seq, $coll) = @_;
	my @log = grep { !$_->{actor} && $_->{path} =~ /\Q$coll\E/ } @{ fake_log($seq) };
	my $n = @log;
	splice(@log, 60) if @log > 60;
	return join("\n", map {
			my $p = $_->{path};
			$p =~ s{^/v2/collections/[0-9a-f]{24}}{C};
			my $b = $_->{body} ? JSON::PP->new->canonical->encode($_->{body}) : '';
			$b = substr($b, 0, 200) . '...' if length($b) > 200;
			sprintf('  %s %s%s -> %s%s %s', $_->{method}, $p,
				($_->{query_string} ? "?$_->{query_string}" : ''),
				$_->{status} // 'dropped', $_->{fault} ? " [$_->{fault}]" : '', $b)
	} @log) . ($n > 60 ? sprintf("\n  ... (%d in all)", $n) : '');
}

# verdict(NAME, TABLE, COLL, SEQ, LIVE, THEIRS): the promise, as one
# attempt; the items of ids THEIRS are the Designer's own, untouched
sub verdict
{
	my ($name, $table, $coll, $seq, $live, $theirs) = @_;
	my $site = site_view($coll, $live, $theirs);
	my $rows = table_view($table);
	my $not_theirs = join(', ', map { "'$_'" } @{ $theirs // [] }, 'none');
	my $verify = psql_quiet(qq{SELECT string_agg(difference || ' key=' || coalesce(row_key, '-') || ' item=' || coalesce(item_id, '-'), E'\n')
	                          FROM webflow.verify('$table') WHERE item_id IS NULL OR item_id NOT IN ($not_theirs)});
	my $failed = n_outbox($table, 'failed');
	my $left = n_outbox($table);
	my $same = join("\n", @$site) eq join("\n", @$rows);
	my $held = $same && $verify eq '' && $failed eq '0' && $left eq '0';
	my $detail = '';
	unless ($held)
	{
		$detail = "table rows:\n  " . join("\n  ", @$rows)
		  . "\nlive site:\n  " . join("\n  ", @$site)
		  . "\nverify(): $verify\nfailed rows: $failed, rows left: $left"
		  . "\nitems at the fake:\n" . items_report($coll)
		  . "\nitem map:\n" . psql_quiet(qq{SELECT string_agg(format('  %s -> %s slug=%s hash=%s', source_key, item_id,
		                  coalesce(slug, 'NULL'), coalesce(payload_hash, 'NULL')), E'\n' ORDER BY source_key)
		                  FROM webflow.items WHERE collection_id = '$coll'})
		  . "\noutbox:\n" . psql_quiet(qq{SELECT string_agg(format('  #%s key %s %s %s attempts=%s status=%s maybe_sent=%s error=%s',
		                       o.id, o.row_key, o.op, o.state, o.attempts, coalesce(o.last_status::text, '-'),
		                       o.maybe_sent, coalesce(o.last_error, '-')), E'\n' ORDER BY o.id)
		                     FROM webflow.outbox o JOIN webflow.bindings b ON b.id = o.binding_id
		                     WHERE b.source = '$table'::regclass})
		  . "\nrequests:\n" . requests_text($seq, $coll);
	}
	attempt($name, $held, $detail);
	return $held;
}

# set_conf(NAME, VALUE): ALTER SYSTEM (VALUE undef: RESET) and reload
sub set_conf
{
	my ($name, $value) = @_;
	sql(defined $value ? "ALTER SYSTEM SET $name = '$value'" : "ALTER SYSTEM RESET $name");
	sql('SELECT pg_reload_conf()');
	sleep(0.5);
}

# cleanup(): no fault left, no pause left behind
sub cleanup
{
	fake_clear_faults();
	set_conf('webflow.worker_enabled', undef) if psql_quiet('SHOW webflow.worker_enabled') ne 'on';
	sql(q{SELECT webflow.retry()})
	  if psql_quiet(q{SELECT webflow.worker_status()->>'pausedBecause' IS NOT NULL}) eq 't';
}

sub run_attack
{
	my ($name, $code) = @_;
	return if $ENV{T086_ONLY} && $name !~ /$ENV{T086_ONLY}/;
	my $t0 = time;
	eval { $code->(); 1 } or attempt($name, 0, "the attack died: $@");
	cleanup();
	note(sprintf('%s: %.1f s', $name, time - $t0));
}

# crash_worker(): SIGKILL of the worker; returns once a new worker is up
sub crash_worker
{
	my $pid = worker_pid($node);
	die "no worker\n" unless $pid;
	kill 'KILL', $pid;
	wait_until(sub { $node->psql('postgres', 'SELECT 1') != 0 }, 5, 0.05);
	wait_until(sub { $node->psql('postgres', 'SELECT 1') == 0 }, 30, 0.2) or die "the server did not come back\n";
	wait_until(sub { my $p = worker_pid($node); $p ne '' && $p ne $pid }, 15, 0.1);
}

# drain_until(CODE): webflow.drain() (the worker off) until CODE is true, at
# most 20 times (a pass the worker had begun may still hold the drain lock)
sub drain_until
{
	my ($code) = @_;
	for (1 .. 20)
	{
		my ($out, $err) = ('', '');
		$node->psql('postgres', q{SELECT webflow.drain()}, stdout => \$out, stderr => \$err);
		note("drain: $out $err");
		return 1 if $code->();
		sleep(0.25);
	}
	return 0;
}

# attempts_of(TABLE, ID): the attempts of a row key's pending outbox rows
sub attempts_of
{
	my ($table, $id) = @_;
	return psql_quiet(qq{SELECT coalesce(max(o.attempts), -1) FROM webflow.outbox o JOIN webflow.bindings b
	                     ON b.id = o.binding_id WHERE b.source = '$table'::regclass AND o.row_key = '$id'});
}

# ===========================================================================
# 1. two rows trade slugs, but in two transactions: the first rename finds
#    its slug taken (by the other row's item, whose rename is not queued
#    yet) and waits its backoff; the second rename comes in while it waits.
#    Each pass then carries one of the two rows only: neither may move.
# ===========================================================================
run_attack('slug trade across passes: each rename waits for the other' => sub {
	my $coll = new_collection('D1');
	new_table('d1', $coll);
	sql(q{INSERT INTO d1 VALUES (1, 'D1 Alpha', 'a'), (2, 'D1 Beta', 'b')});
	settle('d1');
	my $seq = fake_log_seq();
	sql(q{UPDATE d1 SET name = 'D1 Beta' WHERE id = 1});
	wait_until(sub { attempts_of('d1', 1) >= 1 }, 10, 0.02);
	sql(q{UPDATE d1 SET name = 'D1 Alpha' WHERE id = 2});
	settle('d1', 40);
	verdict('slug trade across passes: each rename waits for the other', 'd1', $coll, $seq);
});

# three rows rotating names in three transactions, each after the one
# before got its slug refused; three times (the rows come due at different
# times: each must not move the next away from its own holder, or they
# never meet in one pass)
for my $round (1 .. 3)
{
	my $name = 'slug rotation of three rows across passes' . ($round > 1 ? " ($round)" : '');
	run_attack($name => sub {
		my $t = "d1r$round";
		my $coll = new_collection("D1r$round");
		new_table($t, $coll);
		sql(qq{INSERT INTO $t VALUES (1, 'D1r$round A', 'a'), (2, 'D1r$round B', 'b'), (3, 'D1r$round C', 'c')});
		settle($t);
		my $seq = fake_log_seq();
		sql(qq{UPDATE $t SET name = 'D1r$round B' WHERE id = 1});
		wait_until(sub { attempts_of($t, 1) >= 1 }, 10, 0.02);
		sql(qq{UPDATE $t SET name = 'D1r$round C' WHERE id = 2});
		wait_until(sub { attempts_of($t, 2) >= 1 }, 10, 0.02);
		sql(qq{UPDATE $t SET name = 'D1r$round A' WHERE id = 3});
		settle($t, 40);
		verdict($name, $t, $coll, $seq);
	});
}

# the same with a key change under each on_delete: the new key's create
# finds the slug taken by the old key's item, whose removal (unpublish,
# archive, unpublish and slug release) fails twice with a 500
for my $v ([ 'unpublish', 'delete_live' ], [ 'archive', 'patch_live' ], [ 'unpublish_only', 'patch_staged' ])
{
	my ($on_delete, $kind) = @$v;
	my $name = "key change ($on_delete): the old item's removal fails twice, the new key's create waits";
	run_attack($name => sub {
		my $t = "d2_$on_delete";
		my $coll = new_collection("D2 $on_delete");
		new_table($t, $coll, qq{{"on_delete": "$on_delete"}});
		sql(qq{INSERT INTO $t VALUES (1, 'D2 Row', 'a')});
		settle($t);
		my $seq = fake_log_seq();
		fake_fault({ match => { kind => $kind }, status => 500, count => 2 });
		sql(qq{UPDATE $t SET id = 2 WHERE id = 1});
		settle($t, 40);
		verdict($name, $t, $coll, $seq);
	});
}

# two rows swap names in one UPDATE; the slug release of the first (a
# staged PATCH) is carried out but its answer is a 500, and the release of
# the second is dropped after it was carried out
run_attack('swap: the slug releases carried out, their answers lost' => sub {
	my $coll = new_collection('D6');
	new_table('d6', $coll);
	sql(q{INSERT INTO d6 VALUES (1, 'D6 Left', 'l'), (2, 'D6 Right', 'r'), (3, 'D6 Middle', 'm')});
	settle('d6');
	my $seq = fake_log_seq();
	fake_fault([ { match => { kind => 'patch_staged' }, process => $T, status => 500, count => 1 },
			{ match => { kind => 'patch_staged' }, process => $T, drop => $T, count => 1 } ]);
	sql(q{UPDATE d6 SET name = CASE id WHEN 1 THEN 'D6 Right' WHEN 2 THEN 'D6 Middle' ELSE 'D6 Left' END});
	settle('d6', 40);
	verdict('swap: the slug releases carried out, their answers lost', 'd6', $coll, $seq);
});

# ===========================================================================
# 2. a create whose answer is lost, the Designer changes the new item's
#    slug, then the row is deleted (and sync() runs)
# ===========================================================================
for my $on_delete ('unpublish', 'archive', 'unpublish_only')
{
	my $name = "lost create, the Designer changes its slug, the row deleted, sync() (on_delete $on_delete)";
	run_attack($name => sub {
		my $t = "d3_$on_delete";
		my $coll = new_collection("D3 $on_delete");
		new_table($t, $coll, qq{{"on_delete": "$on_delete"}});
		my $seq = fake_log_seq();
		set_conf('webflow.worker_enabled', 'off');
		fake_fault({ match => { kind => 'post_live' }, process => $T, status => 500, count => 1 });
		sql(qq{INSERT INTO $t VALUES (1, 'D3 Row', 'a'), (2, 'D3 Other', 'b')});
		drain_until(sub { grep { $_->{fieldData}{name} eq 'D3 Row' } @{ fake_items($coll) } });
		my ($item) = grep { $_->{fieldData}{name} eq 'D3 Row' } @{ fake_items($coll) };
		die "the create did not happen\n" unless $item;
		designer('PATCH', "/collections/$coll/items/$item->{id}/live", { fieldData => { slug => "d3-$on_delete-by-the-designer" } });
		sql(qq{DELETE FROM $t WHERE id = 1});
		set_conf('webflow.worker_enabled', undef);
		settle($t, 20);
		sql(qq{SELECT webflow.sync('$t')});
		settle($t, 20);
		verdict($name, $t, $coll, $seq);
	});
}

# the same, but the row is renamed instead of deleted: its item is looked
# up by its slugs (the Designer's is none of them) and by its name (the new
# one): one row looked up alone, and five at once (the newest items read)
for my $n (1, 5)
{
	my $name = "lost create, the Designer changes its slug, the row renamed, sync() ($n rows)";
	run_attack($name => sub {
		my $coll = new_collection("D4 $n");
		my $t = "d4_$n";
		new_table($t, $coll);
		my $seq = fake_log_seq();
		set_conf('webflow.worker_enabled', 'off');
		fake_fault({ match => { kind => 'post_live' }, process => $T, status => 500, count => 1 });
		sql(qq{INSERT INTO $t SELECT i, 'D4 Row ' || i, 'a' FROM generate_series(1, $n) i});
		drain_until(sub { grep { $_->{fieldData}{name} eq 'D4 Row 1' } @{ fake_items($coll) } });
		my ($item) = grep { $_->{fieldData}{name} eq 'D4 Row 1' } @{ fake_items($coll) };
		die "the create did not happen\n" unless $item;
		designer('PATCH', "/collections/$coll/items/$item->{id}/live", { fieldData => { slug => "d4-$n-by-the-designer" } });
		sql(qq{UPDATE $t SET name = name || ' renamed'});
		set_conf('webflow.worker_enabled', undef);
		settle($t, 20);
		sql(qq{SELECT webflow.sync('$t')});
		settle($t, 20);
		verdict($name, $t, $coll, $seq);
	});
}

# ===========================================================================
# 3. a create whose answer is lost, then the row fails for its own reason
#    (a field made required that it leaves empty) before the lookup; the
#    field is made optional again, the row renamed, sync() run
# ===========================================================================
run_attack('lost create, the row fails for its own reason, then renamed and sync()' => sub {
	my $coll = new_collection('D5');
	new_table('d5', $coll);
	my ($fid) = map { $_->{id} } grep { $_->{slug} eq 'description' } @{ (fake_api('GET', "/collections/$coll", undef, actor => 'designer'))[1]{fields} };
	my $seq = fake_log_seq();
	set_conf('webflow.worker_enabled', 'off');
	fake_fault({ match => { kind => 'post_live' }, process => $T, status => 500, count => 1 });
	sql(q{INSERT INTO d5 VALUES (1, 'D5 Row', NULL)});
	drain_until(sub { grep { $_->{fieldData}{name} eq 'D5 Row' } @{ fake_items($coll) } });
	designer('PATCH', "/collections/$coll/fields/$fid", { isRequired => $T });
	sql(qq{SELECT webflow.refresh_schema('$coll')});
	sql(q{SELECT webflow.retry(false)});    # (no need to wait for the backoff)
	drain_until(sub { n_outbox('d5', 'failed') > 0 });
	designer('PATCH', "/collections/$coll/fields/$fid", { isRequired => JSON::PP::false });
	sql(qq{SELECT webflow.refresh_schema('$coll')});
	sql(q{UPDATE d5 SET name = 'D5 Row renamed', description = 'd'});
	set_conf('webflow.worker_enabled', undef);
	settle('d5', 20);
	sql(q{SELECT webflow.sync('d5')});
	settle('d5', 20);
	verdict('lost create, the row fails for its own reason, then renamed and sync()', 'd5', $coll, $seq);
});

# ===========================================================================
# 4. a row whose referenced row cannot be published for a while (the token
#    is refused: the queue is paused) waits for it, and is published once
#    the token works again
# ===========================================================================
run_attack('a book waits for its author while the token is refused' => sub {
	my $acoll = new_collection('D7 authors');
	my ($st, $bc) = fake_api('POST', "/sites/$SITE/collections", {
			displayName => 'D7 books', singularName => 'D7 book', slug => 'divergence-d7-books',
			fields => [ { type => 'PlainText', displayName => 'Description', slug => 'description' },
				{ type => 'Reference', displayName => 'Author', slug => 'author', validations => { collectionId => $acoll } } ] },
		actor => 'designer');
	die "could not create the books collection: $st\n" unless $st == 200;
	my $bcoll = $bc->{id};
	sql(qq{CREATE TABLE d7a (id int PRIMARY KEY, name text NOT NULL, description text);
	       SELECT webflow.bind('d7a', '$acoll');
	       CREATE TABLE d7b (id int PRIMARY KEY, name text NOT NULL, description text, author int REFERENCES d7a);
	       SELECT webflow.bind('d7b', '$bcoll');});
	my $seq = fake_log_seq();
	# the author's create, and the probes of the pause, are refused for ~25 s
	fake_fault({ match => { kind => 'post_live', path => $acoll }, status => 401, count => 3 });
	sql(q{INSERT INTO d7a VALUES (1, 'D7 Author', 'a')});
	wait_for($node, q{SELECT webflow.worker_status()->>'pausedBecause' IS NOT NULL}, 't', 10);
	sql(q{INSERT INTO d7b VALUES (1, 'D7 Book', 'b', 1)});
	wait_until(sub { faults_left() == 0 || n_outbox('d7b', 'failed') > 0 }, 40, 0.5);
	fake_clear_faults();
	sql(q{SELECT pg_reload_conf()});    # the token is fine again: resume
	settle('d7a', 20);
	settle('d7b', 20);
	verdict('a book waits for its author while the token is refused (authors)', 'd7a', $acoll, $seq);
	verdict('a book waits for its author while the token is refused (books)', 'd7b', $bcoll, $seq);
});

# a row that references itself (a Reference of its collection to itself)
# can never be made into an item: it fails for its own reason, in the end,
# and is not left waiting for itself for ever
run_attack('a row that references itself fails, it does not wait for itself for ever' => sub {
	my $coll = new_collection('D7 self');
	designer('POST', "/collections/$coll/fields",
		{ type => 'Reference', displayName => 'Parent', slug => 'parent', validations => { collectionId => $coll } });
	sql(qq{CREATE TABLE d7s (id int PRIMARY KEY, name text NOT NULL, description text, parent int);
	       SELECT webflow.bind('d7s', '$coll');
	       INSERT INTO d7s VALUES (1, 'D7 Self', 's', 1);});
	my $failed = wait_until(sub { n_outbox('d7s', 'failed') > 0 }, 40, 0.5);
	attempt('a row that references itself fails, it does not wait for itself for ever', $failed,
		psql_quiet(q{SELECT string_agg(format('%s %s attempts=%s next=%s error=%s', id, state, attempts, next_attempt_at - now(), last_error), E'\n') FROM webflow.outbox}));
});

# ===========================================================================
# 5. five creates whose answers are lost (the rows renamed since) are
#    looked for in the newest items; the page that answers is short of
#    items (its pagination says more)
# ===========================================================================
run_attack('lost creates looked for in a page that lists fewer items than its total' => sub {
	my $coll = new_collection('D8');
	new_table('d8', $coll);
	my $seq = fake_log_seq();
	set_conf('webflow.worker_enabled', 'off');
	fake_fault({ match => { kind => 'post_live' }, process => $T, status => 500, count => 1 });
	sql(q{INSERT INTO d8 SELECT i, 'D8 Row ' || i, 'd' FROM generate_series(1, 5) i});
	drain_until(sub { scalar(@{ fake_items($coll) }) == 5 });
	sql(q{UPDATE d8 SET name = name || ' renamed'});
	fake_fault({ match => { kind => 'list_items' }, keep_items => 2, count => 1 });
	sql(q{SELECT webflow.retry(false)});
	drain_until(sub { faults_left() == 0 });
	set_conf('webflow.worker_enabled', undef);
	settle('d8', 20);
	verdict('lost creates looked for in a page that lists fewer items than its total', 'd8', $coll, $seq);
});

# ===========================================================================
# 6. the Designer makes an item with the name of a row whose create was
#    lost (the Designer's is newer): the row's own item is the one with its
#    slug, and the Designer's item is left alone
# ===========================================================================
for my $n (1, 5)
{
	my $name = "lost create, the Designer makes a newer item with the row's name ($n rows)";
	run_attack($name => sub {
		my $coll = new_collection("D9 $n");
		my $t = "d9_$n";
		new_table($t, $coll);
		my $seq = fake_log_seq();
		set_conf('webflow.worker_enabled', 'off');
		fake_fault({ match => { kind => 'post_live' }, process => $T, status => 500, count => 1 });
		sql(qq{INSERT INTO $t SELECT i, 'D9 Row ' || i, 'd' FROM generate_series(1, $n) i});
		drain_until(sub { scalar(@{ fake_items($coll) }) == $n });
		sleep(1.1);    # (a createdOn of its own)
		my $d = designer('POST', "/collections/$coll/items/live",
			{ fieldData => { name => 'D9 Row 1', slug => "d9-$n-the-designers", description => 'theirs' } });
		my $theirs = $d->{id} // $d->{items}[0]{id};
		sql(q{SELECT webflow.retry(false)});
		set_conf('webflow.worker_enabled', undef);
		settle($t, 20);
		verdict($name, $t, $coll, $seq, 1, [$theirs]);
		my ($still) = grep { $_->{id} eq $theirs } @{ fake_items($coll) };
		attempt("$name: the Designer's item is left as it was",
			$still && ($still->{fieldData}{description} // '') eq 'theirs', 'it is ' . JSON::PP->new->canonical->encode($still // {}));
	});
}

# the Designer made an item with the slug a new row's item gets (a
# create refused for its slug adopts the item that holds it), while the
# create's first answer is lost
run_attack('the Designer made an item with a new row\'s slug, the create\'s answer lost' => sub {
	my $coll = new_collection('D13');
	new_table('d13', $coll);
	designer('POST', "/collections/$coll/items/live", { fieldData => { name => 'D13 by the Designer', slug => 'd13-row', description => 'theirs' } });
	my $seq = fake_log_seq();
	fake_fault({ match => { kind => 'post_live' }, process => $T, drop => $T, count => 1 });
	sql(q{INSERT INTO d13 VALUES (1, 'D13 Row', 'd'), (2, 'D13 Other', 'e')});
	settle('d13', 20);
	verdict('the Designer made an item with a new row\'s slug, the create\'s answer lost', 'd13', $coll, $seq);
});

# ===========================================================================
# 7. Webflow unavailable for a while: every create answered 503 (a gateway
#    in front of Webflow), more times than a row may be attempted
# ===========================================================================
run_attack('Webflow answers 503 to every create for a while' => sub {
	my $coll = new_collection('D10');
	new_table('d10', $coll);
	my $seq = fake_log_seq();
	fake_fault({ match => { kind => 'post_live' }, status => 503, count => 6 });
	sql(q{INSERT INTO d10 VALUES (1, 'D10 Row', 'd')});
	wait_until(sub { faults_left() == 0 || n_outbox('d10', 'failed') > 0 }, 60, 0.2);
	fake_clear_faults();
	settle('d10', 90);
	verdict('Webflow answers 503 to every create for a while', 'd10', $coll, $seq);
});

# ===========================================================================
# 8. the worker killed between Webflow's answers and the record step: a key
#    change whose old item is gone and whose new item is made, then the
#    row renamed
# ===========================================================================
run_attack('key change, the worker killed before it records, then renamed' => sub {
	my $coll = new_collection('D11');
	new_table('d11', $coll);
	sql(q{INSERT INTO d11 VALUES (1, 'D11 Row', 'd')});
	settle('d11');
	my $seq = fake_log_seq();
	fake_fault({ match => { kind => 'post_live' }, process => $T, delay_ms => 6000, count => 1 });
	sql(q{UPDATE d11 SET id = 2 WHERE id = 1});
	die "the create did not come\n" unless wait_until(sub { faults_left() == 0 }, 10, 0.05);
	sleep(0.3);    # (Webflow made the item; its answer is 6 s away)
	crash_worker();
	sql(q{UPDATE d11 SET name = 'D11 Row renamed'});
	fake_clear_faults();
	settle('d11', 20);
	verdict('key change, the worker killed before it records, then renamed', 'd11', $coll, $seq);
});

note(sprintf('the file ran %.0f s', time - $t_start));
$node->stop;
diag("divergence-attack: $attempts attempts, $breaks breaks" . (@broken ? ' (' . join('; ', @broken) . ')' : ''));
note("divergence-attack: $attempts attempts, $breaks breaks");
done_testing();
