# t/036_read_faults.pl: the promise "the live Webflow site ends up equal to
# the table after any fault, and rows fail only for reasons that are their
# own", tried against faults of the requests that are not the writes
# themselves: the schema fetch, the slug lookup after a lost answer, the
# 401 pause, and renames that collide.
#
# Every subtest's verdict is what a site visitor sees: all pages of the
# public GET /v2/collections/{id}/items/live (archived and draft versions
# are not shown on a site, so they do not count), compared with the rows of
# the table (name, slug = the URL, and description where the table has one),
# plus the outbox: no row of the subtest is 'failed' (a healthy API would
# have accepted every one of them), none left over.
#
# Cases (named in each subtest):
#   1. outage at the first send: the worker's first Get Collection (schema)
#      is refused / 500 / 429 / 401 / a 200 that is not JSON; the same for
#      the slug lookup after a lost answer;
#   2. a batch create whose answer is lost (dropped connection, timeout,
#      500, 502 after processing), then the row is deleted or renamed; a
#      lost answer whose slug lookup (or items list) gets a 200 that is not
#      JSON, then a delete; a rename whose answer is lost, then the row is
#      renamed back; a delete whose answer is lost (on_delete unpublish,
#      archive, unpublish_only), then the same row is inserted again;
#   3. slug lookups that keep failing with 503 must back off;
#   4. one 401 to a write: reload, ALTER SYSTEM with the same token,
#      webflow.retry(), or nothing at all must resume sending;
#   5. two rows swap names in one transaction; a key change under
#      on_delete = 'archive' and 'unpublish_only' (with webflow.max_attempts
#      = 4, so that a row that would retry for minutes fails within ~10 s).
#
# The fake's faults used: status/raw answers instead of the real one, a
# delay past webflow.timeout after processing (a lost answer), a dropped
# connection after processing (on a kept-alive connection libcurl then sends
# the request again on a new one), and a closed loopback port (refused).
# Subtests are independent: each uses rows of its own name prefix, and
# cleanup() clears faults, lifts a 401 pause (another spelling of the API
# URL) and removes the subtest's leftover outbox rows.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use FindBin;
use lib $FindBin::RealBin;
use WebflowTest;

my $t_start = time;
my %env = start_fake();
my $fake_url = $env{WEBFLOW_FAKE_URL};    # http://127.0.0.1:P/v2
(my $alt_url = $fake_url) =~ s{//127\.0\.0\.1:}{//localhost:};
my $cur_url = $fake_url;

my $node = new_node('read_faults',
	'webflow.timeout'         => "'1s'",
	'webflow.connect_timeout' => "'1s'",
	'webflow.rate_limit'      => 600);    # one request per 0.1 s at most

my $json = JSON::PP->new->utf8->canonical;
my $ua = HTTP::Tiny->new(timeout => 30, keep_alive => 1);
my $T = JSON::PP::true;

sub sql { return $node->safe_psql('postgres', $_[0]); }

sub psql_quiet
{
	my ($q) = @_;
	my ($out, $err) = ('', '');
	$node->psql('postgres', $q, stdout => \$out, stderr => \$err);
	return $out;
}

# closed_port(): a loopback port nobody listens on (connection refused)
sub closed_port
{
	my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1', LocalPort => 0, Proto => 'tcp')
	  or die "socket: $!";
	my $port = $s->sockport;
	close($s);
	return $port;
}

# set_url(URL): webflow.api_url for every process (ALTER SYSTEM + reload)
sub set_url
{
	my ($url) = @_;
	sql("ALTER SYSTEM SET webflow.api_url = '$url'; SELECT pg_reload_conf();");
	wait_for($node, 'SHOW webflow.api_url', $url, 10);
	sleep(0.5);    # the worker rereads its settings at the top of its loop
}

# set_timeout(T): webflow.timeout for every process (ALTER SYSTEM + reload);
# undef goes back to the node's 1 s
sub set_timeout
{
	my ($t) = @_;
	sql(defined $t
		? "ALTER SYSTEM SET webflow.timeout = '$t'; SELECT pg_reload_conf();"
		: 'ALTER SYSTEM RESET webflow.timeout; SELECT pg_reload_conf();');
	wait_for($node, 'SHOW webflow.timeout', $t // '1s', 10);
	sleep(0.5);    # the worker rereads its settings at the top of its loop
}

# ---- the verdict -----------------------------------------------------------

# visible(COLLECTION): what a visitor sees, every page of List Live Items
sub visible
{
	my ($coll) = @_;
	my @items;
	my $offset = 0;
	for my $page (1 .. 100)
	{
		my $res = $ua->get("$fake_url/collections/$coll/items/live?limit=100&offset=$offset",
			{ headers => { Authorization => 'Bearer readonly-token', Accept => 'application/json' } });
		die "List Live Items: $res->{status} $res->{content}\n" unless $res->{success};
		my $d = $json->decode($res->{content});
		push @items, @{ $d->{items} };
		$offset += @{ $d->{items} };
		last if !@{ $d->{items} } || $offset >= $d->{pagination}{total};
	}
	return [ grep { !$_->{isArchived} && !$_->{isDraft} } @items ];
}

# site_view / table_view: sorted "name|slug|description" of a prefix's rows
# (the slug is the item's URL on the site: the row's name, slugified)
sub site_view
{
	my ($coll, $prefix) = @_;
	return [ sort map { join('|', map { $_ // '' } @{ $_->{fieldData} }{qw(name slug description)}) }
		  grep { index($_->{fieldData}{name} // '', $prefix) == 0 } @{ visible($coll) } ];
}

sub table_view
{
	my ($table, $prefix) = @_;
	my $desc = psql_quiet(qq{SELECT count(*) FROM pg_attribute WHERE attrelid = '$table'::regclass
	                          AND attname = 'description' AND NOT attisdropped}) eq '1'
	  ? q{coalesce(description, '')} : q{''};
	my $out = sql(qq{SELECT name || '|' || webflow.slugify(name) || '|' || $desc FROM $table
	                 WHERE starts_with(name, '$prefix')});
	return [ sort split /\n/, $out ];
}

# outbox_mark(): the newest outbox id (a subtest's rows come after it)
sub outbox_mark { return sql(q{SELECT coalesce(max(id), 0) FROM webflow.outbox}) || 0; }

sub n_failed
{
	my ($table, $mark) = @_;
	return psql_quiet(qq{SELECT count(*) FROM webflow.outbox o JOIN webflow.bindings b ON b.id = o.binding_id
	                     WHERE b.source = '$table'::regclass AND o.id > $mark AND o.state = 'failed'});
}

sub n_left
{
	my ($table, $mark) = @_;
	return psql_quiet(qq{SELECT count(*) FROM webflow.outbox o JOIN webflow.bindings b ON b.id = o.binding_id
	                     WHERE b.source = '$table'::regclass AND o.id > $mark});
}

sub outbox_report
{
	my ($table, $mark) = @_;
	return psql_quiet(qq{SELECT string_agg(format('  #%s key %s %s %s attempts=%s status=%s maybe_sent=%s error=%s',
	                       o.id, o.row_key, o.op, o.state, o.attempts, coalesce(o.last_status::text, '-'),
	                       o.maybe_sent, coalesce(o.last_error, '-')), E'\n' ORDER BY o.id)
	                     FROM webflow.outbox o JOIN webflow.bindings b ON b.id = o.binding_id
	                     WHERE b.source = '$table'::regclass AND o.id > $mark});
}

# all_items(COLLECTION, PREFIX): every item of the prefix at the fake, live or not
sub all_items
{
	my ($coll, $prefix) = @_;
	return join("\n", map {
			sprintf('  %s slug=%s name=%s live=%s liveName=%s archived=%s draft=%s',
				$_->{id}, $_->{fieldData}{slug} // '-', $_->{fieldData}{name} // '-',
				$_->{isLive} ? 'yes' : 'no', ($_->{liveFieldData} // {})->{name} // '-',
				$_->{isArchived} ? 'yes' : 'no', $_->{isDraft} ? 'yes' : 'no')
	} grep { index($_->{fieldData}{name} // '', $prefix) == 0
		  || index(($_->{liveFieldData} // {})->{name} // '', $prefix) == 0 } @{ fake_items($coll) });
}

# settle(TABLE, COLLECTION, PREFIX, MARK, TIMEOUT): waits until the
# subtest's outbox rows are all gone (nothing more will be sent), or one is
# failed, or the site equals the table with nothing left to send
sub settle
{
	my ($table, $coll, $prefix, $mark, $timeout) = @_;
	return wait_until(sub { n_failed($table, $mark) > 0 || n_left($table, $mark) == 0 },
		$timeout // 20, 0.25);
}

# verdict(NAME, TABLE, COLLECTION, PREFIX, MARK, SEQ): the site equals the
# table, and no row of the subtest failed
sub verdict
{
	my ($name, $table, $coll, $prefix, $mark, $seq) = @_;
	my $site  = site_view($coll, $prefix);
	my $rows  = table_view($table, $prefix);
	my $ok = is_deeply($site, $rows, "$name: the live site shows exactly the table's rows");
	my $failed = n_failed($table, $mark);
	$ok &= is($failed, '0', "$name: no row failed");
	my $left = n_left($table, $mark);
	$ok &= is($left, '0', "$name: nothing left in the outbox");
	unless ($ok)
	{
		diag("$name: table rows:   " . join(', ', @$rows));
		diag("$name: live, shown:  " . join(', ', @$site));
		diag("$name: items at the fake:\n" . all_items($coll, $prefix));
		diag("$name: outbox rows:\n" . (outbox_report($table, $mark) || '  (none)'));
		diag("$name: requests: " . requests_text($seq)) if defined $seq;
	}
	return $ok;
}

# requests_text(SEQ): the API requests since SEQ, briefly (the visitor's own
# reads of /items/live left out)
sub requests_text
{
	my ($seq) = @_;
	my @log = grep { !($_->{method} eq 'GET' && $_->{path} =~ m{/items/live$}) } @{ fake_log($seq) };
	my $n = @log;
	splice(@log, 30) if @log > 30;
	return join(', ', map {
			my $p = $_->{path};
			$p =~ s{^/v2/collections/[0-9a-f]{24}}{C};
			sprintf('%s %s%s %s%s', $_->{method}, $p,
				($_->{query}{slug} ? "?slug=$_->{query}{slug}" : ''),
				$_->{status} // 'dropped', $_->{fault} ? " [$_->{fault}]" : '')
	} @log) . ($n > 30 ? sprintf(' ... (%d in all)', $n) : '');
}

# answered_for(SEQ, METHOD, PREFIX): the METHOD requests logged (that is,
# answered) after SEQ that carry an item named PREFIX...  (a timed-out
# request of an earlier subtest is logged when the fake answers it, which
# may be after the next subtest began)
sub answered_for
{
	my ($seq, $method, $prefix) = @_;
	return grep {
		my $body = $_->{body};
		$_->{method} eq $method && ref($body) eq 'HASH' && ref($body->{items}) eq 'ARRAY'
		  && grep { ref($_) eq 'HASH' && index(($_->{fieldData} // {})->{name} // '', $prefix) == 0 }
		  @{ $body->{items} }
	} @{ fake_log($seq) };
}

# cleanup(TABLE, MARK): no fault left, the queue not paused, the rows of the
# subtest out of the outbox (so that they touch no later subtest)
sub cleanup
{
	my ($table, $mark) = @_;
	fake_clear_faults();
	if (psql_quiet(q{SELECT webflow.worker_status()->>'pausedBecause' IS NOT NULL}) eq 't')
	{
		# another spelling of the same URL lifts a 401 pause
		$cur_url = $cur_url eq $fake_url ? $alt_url : $fake_url;
		set_url($cur_url);
	}
	wait_until(sub { psql_quiet(q{SELECT count(*) FROM webflow.outbox WHERE state = 'sending'}) eq '0' }, 10, 0.1);
	psql_quiet(qq{DELETE FROM webflow.outbox o USING webflow.bindings b WHERE b.id = o.binding_id
	               AND b.source = '$table'::regclass AND o.id > $mark AND o.state <> 'sending'});
}

sub faults_left { return scalar @{ fake_admin('GET', '/faults') }; }

# case_subtest(NAME, CODE): a subtest, unless T036_ONLY (a regex) leaves it
# out (to run one case while working on it)
sub case_subtest
{
	my ($name, $code) = @_;
	return if $ENV{T036_ONLY} && $name !~ /$ENV{T036_ONLY}/;
	return subtest($name, $code);
}

my $jobs_get     = "^/v2/collections/$JOBS\$";
my $jobs_lookup  = "^/v2/collections/$JOBS/items\$";
my $jobs_create  = "^/v2/collections/$JOBS/items/live\$";
my $not_json     = '<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>cloudflare</body></html>';

# ===========================================================================
# Case 1: outage at the first send (the worker fetches the collection schema)
# ===========================================================================

# connection refused: the table is bound and filled while the API is
# unreachable, so the worker has never fetched the schema
sql(q{CREATE TABLE c1 (id serial PRIMARY KEY, name text NOT NULL)});
{
	my $name = 'case 1 (schema fetch, connection refused)';
	case_subtest $name => sub {
		my $prefix = 'C1 refused';
		my $seq = fake_log_seq();
		my $mark = outbox_mark();
		set_url('http://127.0.0.1:' . closed_port() . '/v2');
		sql(qq{SELECT webflow.bind('c1', '$JOBS');});
		is(sql(qq{SELECT count(*) FROM webflow.collection_fields WHERE collection_id = '$JOBS'}), '0',
			"$name: the schema is not cached (bound while the API is down)");
		sql(qq{INSERT INTO c1 (name) SELECT '$prefix Row ' || i FROM generate_series(1, 3) AS i});
		ok(wait_until(sub {
					psql_quiet(qq{SELECT count(*) FROM webflow.outbox WHERE id > $mark AND last_error IS NOT NULL}) > 0
					  || psql_quiet(q{SELECT webflow.worker_status()->>'problem' IS NOT NULL OR webflow.worker_status()->>'pausedBecause' IS NOT NULL}) eq 't'
			}, 10, 0.1),
			"$name: the worker tried while the API was down");
		sleep(1);
		set_url($cur_url);    # the API is back
		settle('c1', $JOBS, $prefix, $mark, 20);
		verdict($name, 'c1', $JOBS, $prefix, $mark, $seq);
		cleanup('c1', $mark);
	};
}

sql(qq{SELECT webflow.bind('c1', '$JOBS')})
  if sql(q{SELECT count(*) FROM webflow.bindings WHERE source = 'c1'::regclass}) eq '0';

# 500, 429, 401, a 200 that is not JSON: the schema cache is emptied, so the
# worker's next pass fetches the collection again
for my $f (
	[ '500',              { status => 500, count => 2 } ],
	[ '429',              { status => 429, retry_after => 1, count => 1 } ],
	[ '401',              { status => 401, count => 1 } ],
	[ '200 not JSON',     { status => 200, raw => $not_json, count => 1 } ],)
{
	my ($what, $fault) = @$f;
	my $name = "case 1 (schema fetch, $what)";
	case_subtest $name => sub {
		(my $prefix = "C1 schema $what") =~ s/\W+/ /g;
		my $seq = fake_log_seq();
		my $mark = outbox_mark();
		sql(qq{DELETE FROM webflow.collection_fields WHERE collection_id = '$JOBS'});
		fake_fault({ match => { method => 'GET', path => $jobs_get }, %$fault });
		sql(qq{INSERT INTO c1 (name) SELECT '$prefix Row ' || i FROM generate_series(1, 3) AS i});
		ok(wait_until(sub { faults_left() == 0 }, 10, 0.1), "$name: the worker's schema fetch met the fault");
		settle('c1', $JOBS, $prefix, $mark, $what eq '401' ? 20 : 15);
		verdict($name, 'c1', $JOBS, $prefix, $mark, $seq);
		cleanup('c1', $mark);
	};
}

# the slug lookup after a lost answer (the create timed out after Webflow
# made the item): refused, 500, 429, 401, a 200 that is not JSON
# (five rows are looked up by reading the collection's newest items, the
# items list; one row by slug)
# The answer is lost by a timeout (the next pass looks the item up before
# sending again), or by a dropped kept-alive connection (libcurl sends the
# create again at once on a new connection, Webflow answers 400 for the
# slug taken by the first, and the worker looks the item up to adopt it).
my %lost = (
	timeout => { delay_ms => 1600, name => 'lost answer (timeout)' },
	drop    => { drop => $T, delay_ms => 200, name => 'lost answer (dropped connection)' });
for my $f (
	[ 'refused',      1, 'timeout', undef ],
	[ '500',          1, 'timeout', { status => 500, count => 1 } ],
	[ '429',          1, 'timeout', { status => 429, retry_after => 1, count => 1 } ],
	[ '401',          1, 'timeout', { status => 401, count => 1 } ],
	[ '200 not JSON', 1, 'timeout', { status => 200, raw => $not_json, count => 1 } ],
	[ '500',          1, 'drop',    { status => 500, count => 2 } ],
	[ '200 not JSON', 1, 'drop',    { status => 200, raw => $not_json, count => 1 } ],
	[ '500',          5, 'timeout', { status => 500, count => 1 } ],
	[ '200 not JSON', 5, 'timeout', { status => 200, raw => $not_json, count => 1 } ],)
{
	my ($what, $rows, $how, $fault) = @$f;
	my $lookup = $rows > 3 ? 'items list' : 'slug lookup';
	my $name = "case 1 ($lookup after a lost answer ($how), $what)";
	case_subtest $name => sub {
		(my $prefix = "C1 $lookup $how $what") =~ s/\W+/ /g;
		my $seq = fake_log_seq();
		my $mark = outbox_mark();
		fake_fault([
			{ match => { method => 'POST', path => $jobs_create }, process => $T, count => 1, %{ $lost{$how} } },
			($fault ? ({ match => { method => 'GET', path => $jobs_lookup }, %$fault }) : ()) ]);
		sql(qq{INSERT INTO c1 (name) SELECT '$prefix Row ' || i FROM generate_series(1, $rows) AS i});
		ok(wait_until(sub { $rows == grep { index($_->{fieldData}{name} // '', $prefix) == 0 } @{ fake_items($JOBS) } }, 10, 0.05),
			"$name: Webflow made the item(s) (the answer is lost)");
		if (!$fault)
		{
			# (a refused lookup reaches no fake: count the worker's requests)
			my $sent = worker_status($node)->{requests};
			set_url('http://127.0.0.1:' . closed_port() . '/v2');
			ok(wait_until(sub { worker_status($node)->{requests} > $sent + 1 }, 10, 0.1),
				"$name: the worker sent requests to the closed port");
			sleep(1);
			set_url($cur_url);
		}
		else
		{
			ok(wait_until(sub { faults_left() == 0 }, 15, 0.1), "$name: the lookup met the fault");
		}
		settle('c1', $JOBS, $prefix, $mark, $what eq '401' ? 20 : 15);
		verdict($name, 'c1', $JOBS, $prefix, $mark, $seq);
		cleanup('c1', $mark);
	};
}

# ===========================================================================
# Case 2: a lost answer, then a delete or a rename
# ===========================================================================
# Each subtest commits its delete or rename while the first answer is held
# back, and checks that it did: the fake holds the answer 2.5 s (4.6 s for a
# timeout), and webflow.timeout is 4 s so that a 500 is not a timeout.
set_timeout('4s');
for my $f (
	[ 'dropped connection', { drop => $T, delay_ms => 2500 } ],
	[ 'timeout',            { delay_ms => 4600 } ],
	[ '500',                { status => 500, delay_ms => 2500 } ],
	[ '502',                { status => 502, raw => $not_json, delay_ms => 2500 } ],)
{
	my ($what, $fault) = @$f;
	# (name moved: B is renamed and A takes B's old name, so that the slug A
	# has now is that of B's item; with 5 rows they are looked for among the
	# collection's newest items, with 2 one by one; then deleted: A is
	# deleted after it took the name)
	for my $action ('delete', 'rename', 'name moved', 'name moved, 5 rows', 'name moved, then deleted')
	{
		my $name = "case 2 (batch create processed, $what; then $action)";
		case_subtest $name => sub {
			(my $prefix = "C2 $what $action") =~ s/\W+/ /g;
			my @rows = $action =~ /5 rows/ ? qw(A B C D E) : qw(A B);
			my $seq = fake_log_seq();
			my $mark = outbox_mark();
			fake_fault({ match => { method => 'POST', path => $jobs_create }, process => $T, count => 1, %$fault });
			sql(qq{INSERT INTO c1 (name) VALUES } . join(', ', map { "('$prefix $_')" } @rows));
			ok(wait_until(sub { @rows == grep { index($_->{fieldData}{name} // '', $prefix) == 0 } @{ fake_items($JOBS) } }, 10, 0.05),
				"$name: Webflow made the items (the answer is not back yet)");
			if ($action eq 'delete')
			{
				sql(qq{DELETE FROM c1 WHERE name = '$prefix A'});
			}
			elsif ($action eq 'rename')
			{
				sql(qq{UPDATE c1 SET name = '$prefix A renamed' WHERE name = '$prefix A'});
			}
			else
			{
				sql(qq{BEGIN; UPDATE c1 SET name = '$prefix B renamed' WHERE name = '$prefix B';
				       UPDATE c1 SET name = '$prefix B' WHERE name = '$prefix A'; COMMIT;});
				# (its delete must take A's item, not the one with the name it had last)
				sql(qq{DELETE FROM c1 WHERE name = '$prefix B'}) if $action =~ /deleted/;
			}
			# (the fake logs a request once it has answered it)
			ok(!answered_for($seq, 'POST', $prefix),
				"$name: the $action was committed before the create's answer")
			  or diag("$name: answered already: " . requests_text($seq));
			settle('c1', $JOBS, $prefix, $mark, 20);
			verdict($name, 'c1', $JOBS, $prefix, $mark, $seq);
			cleanup('c1', $mark);
		};
	}
}

set_timeout(undef);

# the lookup after a lost answer gets a 200 that is not JSON, then the row
# is deleted: the first item must not stay live
# (five rows are looked up by reading the collection's newest items, the
# items list; one row by slug)
for my $f (
	[ 'timeout',            1, { delay_ms => 1600 } ],
	[ 'dropped connection', 1, { drop => $T, delay_ms => 1000 } ],
	[ 'timeout',            5, { delay_ms => 1600 } ],)
{
	my ($what, $rows, $fault) = @$f;
	my $lookup = $rows > 3 ? 'items list' : 'slug lookup';
	my $name = "case 2 (lost answer ($what) of $rows row(s), $lookup answered 200 not JSON; then delete)";
	case_subtest $name => sub {
		(my $prefix = "C2 $lookup not json $what") =~ s/\W+/ /g;
		my $seq = fake_log_seq();
		my $mark = outbox_mark();
		fake_fault([
			{ match => { method => 'POST', path => $jobs_create }, process => $T, count => 1, %$fault },
			{ match => { method => 'GET', path => $jobs_lookup }, status => 200, raw => $not_json, count => 1 } ]);
		sql(qq{INSERT INTO c1 (name) SELECT '$prefix Row ' || i FROM generate_series(1, $rows) AS i});
		ok(wait_until(sub { $rows == grep { index($_->{fieldData}{name} // '', $prefix) == 0 } @{ fake_items($JOBS) } }, 10, 0.05),
			"$name: Webflow made the item(s)");
		sql(qq{DELETE FROM c1 WHERE starts_with(name, '$prefix')});
		ok(wait_until(sub { faults_left() == 0 }, 15, 0.1), "$name: the lookup got the page that is not JSON");
		settle('c1', $JOBS, $prefix, $mark, 15);
		verdict($name, 'c1', $JOBS, $prefix, $mark, $seq);
		cleanup('c1', $mark);
	};
}

set_timeout('4s');    # as above: the rename back goes while the answer is held
# an update (a rename) whose answer is lost after Webflow applied it, then
# the row is renamed back: the item must not keep the slug of the lost
# rename (the item map still holds the old slug, so "unchanged" is a guess)
for my $f (
	[ 'timeout', { delay_ms => 4600 } ],
	[ '500',     { status => 500, delay_ms => 2500 } ],)
{
	my ($what, $fault) = @$f;
	my $name = "case 2 (rename processed, $what; then renamed back)";
	case_subtest $name => sub {
		my $prefix = "C2 rename back $what";
		my $mark = outbox_mark();
		sql(qq{INSERT INTO c1 (name) VALUES ('$prefix First')});
		settle('c1', $JOBS, $prefix, $mark, 15);
		my $seq = fake_log_seq();
		$mark = outbox_mark();
		fake_fault({ match => { method => 'PATCH', path => $jobs_create }, process => $T, count => 1, %$fault });
		sql(qq{UPDATE c1 SET name = '$prefix Second' WHERE name = '$prefix First'});
		ok(wait_until(sub { grep { ($_->{fieldData}{name} // '') eq "$prefix Second" } @{ fake_items($JOBS) } }, 10, 0.05),
			"$name: Webflow applied the rename (its answer is not back yet)");
		sql(qq{UPDATE c1 SET name = '$prefix First' WHERE name = '$prefix Second'});
		ok(!answered_for($seq, 'PATCH', $prefix),
			"$name: the rename back was committed before the first rename's answer")
		  or diag("$name: answered already: " . requests_text($seq));
		settle('c1', $JOBS, $prefix, $mark, 20);
		verdict($name, 'c1', $JOBS, $prefix, $mark, $seq);
		cleanup('c1', $mark);
	};
}

set_timeout(undef);

# ===========================================================================
# Case 3: failing lookups must back off
# ===========================================================================
{
	my $name = 'case 3 (slug lookups fail with 503 for a while)';
	case_subtest $name => sub {
		my $prefix = 'C3 spin';
		my $seq = fake_log_seq();
		my $mark = outbox_mark();
		fake_fault([
			{ match => { method => 'POST', path => $jobs_create }, delay_ms => 1600, process => $T, count => 1, name => 'lost answer (timeout)' },
			{ match => { method => 'GET', path => $jobs_lookup }, status => 503, count => 1000000, name => 'lookup 503' } ]);
		sql(qq{INSERT INTO c1 (name) VALUES ('$prefix Row 1')});
		my $lookups = sub { scalar grep { $_->{method} eq 'GET' && $_->{path} =~ /$jobs_lookup/ } @{ fake_log($_[0]) } };
		ok(wait_until(sub { $lookups->($seq) > 0 }, 15, 0.1), "$name: the worker started looking the item up");
		my $from = fake_log_seq();
		sleep(10);
		my $n = $lookups->($from);
		my $all = scalar @{ fake_log($from) };
		cmp_ok($n, '<=', 12,
			"$name: in 10 s of 503s the worker sent $n lookups (rate limit allows 100; backoff allows ~5)");
		note("$name: $all API requests in those 10 s");
		fake_clear_faults();
		settle('c1', $JOBS, $prefix, $mark, 30);
		verdict($name, 'c1', $JOBS, $prefix, $mark, $seq);
		cleanup('c1', $mark);
	};
}

# ===========================================================================
# Case 4: one 401 must not pause for good
# ===========================================================================
for my $how ('reload', 'ALTER SYSTEM same token', 'webflow.retry()', 'no action')
{
	my $name = "case 4 (one 401 to a write, then $how)";
	case_subtest $name => sub {
		(my $prefix = "C4 $how") =~ s/\W+/ /g;
		$prefix =~ s/\s+$//;
		# (a row that goes through first: the worker is idle, with no
		# reload of an earlier subtest's cleanup still to come)
		my $mark = outbox_mark();
		sql(qq{INSERT INTO c1 (name) VALUES ('$prefix Warm up')});
		settle('c1', $JOBS, $prefix, $mark, 15);
		my $seq = fake_log_seq();
		$mark = outbox_mark();
		fake_fault({ match => { method => 'POST', path => $jobs_create }, status => 401, count => 1 });
		sql(qq{INSERT INTO c1 (name) VALUES ('$prefix Row 1')});
		ok(wait_until(sub { faults_left() == 0 }, 10, 0.1), "$name: the create got the 401");
		ok(wait_for($node, q{SELECT webflow.worker_status()->>'pausedBecause' IS NOT NULL}, 't', 10),
			"$name: the queue is paused");
		if ($how eq 'reload')
		{
			sql(q{SELECT pg_reload_conf()});
		}
		elsif ($how eq 'ALTER SYSTEM same token')
		{
			sql(q{ALTER SYSTEM SET webflow.token = 'test-token'; SELECT pg_reload_conf();});
		}
		elsif ($how eq 'webflow.retry()')
		{
			sql(q{SELECT webflow.retry()});
		}
		my $timeout = $how eq 'no action' ? 60 : 7;
		settle('c1', $JOBS, $prefix, $mark, $timeout);
		verdict($name, 'c1', $JOBS, $prefix, $mark, $seq)
		  or diag("$name: worker_status: " . psql_quiet(q{SELECT webflow.worker_status()}));
		sql(q{ALTER SYSTEM RESET webflow.token; SELECT pg_reload_conf();}) if $how =~ /ALTER SYSTEM/;
		cleanup('c1', $mark);
	};
}

# ===========================================================================
# Case 5: renames that collide, key changes under archive / unpublish_only
# ===========================================================================
# a deadlocked row fails after 4 attempts (~7 s) instead of ~8 minutes
sql(q{ALTER SYSTEM SET webflow.max_attempts = 4; SELECT pg_reload_conf();});
sleep(0.5);
sql(qq{CREATE TABLE c5s (id int PRIMARY KEY, name text NOT NULL, description text);
       SELECT webflow.bind('c5s', '$TAGS');
       CREATE TABLE c5a (id int PRIMARY KEY, name text NOT NULL);
       SELECT webflow.bind('c5a', '$AUTHORS', '{"on_delete": "archive"}');
       CREATE TABLE c5u (id int PRIMARY KEY, name text NOT NULL);
       SELECT webflow.bind('c5u', '$BOOKS', '{"on_delete": "unpublish_only"}');});

{
	my $name = 'case 5 (two rows swap names in one transaction)';
	case_subtest $name => sub {
		my $prefix = 'C5 swap';
		my $seq = fake_log_seq();
		my $mark = outbox_mark();
		sql(qq{INSERT INTO c5s VALUES (1, '$prefix Left', 'row 1'), (2, '$prefix Right', 'row 2');});
		settle('c5s', $TAGS, $prefix, $mark, 15);
		verdict("$name, before", 'c5s', $TAGS, $prefix, $mark, $seq);
		$mark = outbox_mark();
		$seq = fake_log_seq();
		sql(qq{UPDATE c5s SET name = CASE id WHEN 1 THEN '$prefix Right' ELSE '$prefix Left' END});
		settle('c5s', $TAGS, $prefix, $mark, 25);
		verdict($name, 'c5s', $TAGS, $prefix, $mark, $seq);
		cleanup('c5s', $mark);
	};
}

{
	my $name = 'case 5 (three rows rotate names in one transaction)';
	case_subtest $name => sub {
		my $prefix = 'C5 rotate';
		my $seq = fake_log_seq();
		my $mark = outbox_mark();
		sql(qq{INSERT INTO c5s VALUES (11, '$prefix One', 'row 11'), (12, '$prefix Two', 'row 12'),
		                              (13, '$prefix Three', 'row 13');});
		settle('c5s', $TAGS, $prefix, $mark, 15);
		verdict("$name, before", 'c5s', $TAGS, $prefix, $mark, $seq);
		$mark = outbox_mark();
		$seq = fake_log_seq();
		sql(qq{UPDATE c5s SET name = CASE id WHEN 11 THEN '$prefix Two' WHEN 12 THEN '$prefix Three'
		                                     ELSE '$prefix One' END WHERE id IN (11, 12, 13)});
		settle('c5s', $TAGS, $prefix, $mark, 25);
		verdict($name, 'c5s', $TAGS, $prefix, $mark, $seq);
		cleanup('c5s', $mark);
	};
}

for my $f ([ 'archive', $AUTHORS, 'c5a' ], [ 'unpublish_only', $BOOKS, 'c5u' ])
{
	my ($on_delete, $coll, $table) = @$f;
	my $name = "case 5 (key change, on_delete = $on_delete)";
	case_subtest $name => sub {
		my $prefix = "C5 key $on_delete";
		my $seq = fake_log_seq();
		my $mark = outbox_mark();
		sql(qq{INSERT INTO $table VALUES (1, '$prefix Row');});
		settle($table, $coll, $prefix, $mark, 15);
		verdict("$name, before", $table, $coll, $prefix, $mark, $seq);
		$mark = outbox_mark();
		$seq = fake_log_seq();
		sql(qq{UPDATE $table SET id = 2 WHERE id = 1});
		settle($table, $coll, $prefix, $mark, 25);
		verdict($name, $table, $coll, $prefix, $mark, $seq);
		cleanup($table, $mark);
	};
}

# a delete whose answer is lost after Webflow took the item off the site
# (unpublished, or archived), then the same row is inserted again: the item
# map still holds the hash of the row as it was, so "unchanged" is a guess
# (the answer held 2.5 s under a 4 s timeout, as in case 2 above; id 100001
# is above what c1's serial gives the other cases)
set_timeout('4s');
for my $f (
	[ 'unpublish',      $JOBS,    'c1',  'DELETE', "^/v2/collections/$JOBS/items/live\$" ],
	[ 'archive',        $AUTHORS, 'c5a', 'PATCH',  "^/v2/collections/$AUTHORS/items/live\$" ],
	[ 'unpublish_only', $BOOKS,   'c5u', 'DELETE', "^/v2/collections/$BOOKS/items/live\$" ],)
{
	my ($on_delete, $coll, $table, $method, $path) = @$f;
	my $name = "case 2 (delete processed, 500, on_delete = $on_delete; then the row is inserted again)";
	case_subtest $name => sub {
		my $prefix = "C2 back $on_delete";
		my $mark = outbox_mark();
		sql(qq{INSERT INTO $table (id, name) VALUES (100001, '$prefix Row')});
		settle($table, $coll, $prefix, $mark, 15);
		my $seq = fake_log_seq();
		$mark = outbox_mark();
		fake_fault({ match => { method => $method, path => $path }, process => $T, status => 500,
				delay_ms => 2500, count => 1 });
		sql(qq{DELETE FROM $table WHERE id = 100001});
		ok(wait_until(sub { !grep { ((($_->{liveFieldData} // {})->{name} // '') eq "$prefix Row") && !$_->{isArchived} }
					@{ fake_items($coll) } }, 10, 0.05),
			"$name: Webflow took the item off the site (its answer is not back yet)");
		sql(qq{INSERT INTO $table (id, name) VALUES (100001, '$prefix Row')});
		ok(!grep({ $_->{method} eq $method } @{ fake_log($seq) }),
			"$name: the row was inserted again before the delete's answer")
		  or diag("$name: answered already: " . requests_text($seq));
		settle($table, $coll, $prefix, $mark, 20);
		verdict($name, $table, $coll, $prefix, $mark, $seq);
		cleanup($table, $mark);
	};
}

set_timeout(undef);
sql(q{ALTER SYSTEM RESET webflow.max_attempts; SELECT pg_reload_conf();});
note(sprintf('the file ran %.0f s', time - $t_start));
$node->stop;
done_testing();
