# t/ChaosWorkload.pm: the pieces of the chaos test (t/050_chaos.pl) that are
# not about one test run: the two bound tables, the seeded workload of
# concurrent sessions, the seeded fault schedule, the collector of the fake's
# request log, and the invariant check.
#
#   use ChaosWorkload;
#   create_tables($node);                  # authors + books, both bound
#   my $sessions = start_sessions(node => $node, seed => 42, sessions => 4,
#                                 seconds => 60, dir => $tmp);
#   my $plan = fault_plan(42, 60);         # [{at => s, type => 'api'|'worker', kind => ...}]
#   inject_api_fault($kind, $rng);         # queues one fault at the fake
#   my $totals = wait_sessions($sessions, 90);
#   my $report = check_invariant($node, \%fixture_ids);
#
# The workload: each session (a forked process, its own RNG seeded from the
# run's seed and its number) runs transactions through psql until its
# deadline: inserts, upserts, renames (which change the slug), explicit book
# slugs set and cleared, bios and blurbs changed, books moved between
# authors, deletes of books and of authors (books' author_id is ON DELETE SET
# NULL), re-keyed rows (UPDATE ... SET id, a delete of the old key and a
# create of the new one under the same slug), a book deleted and its name
# reused by another key, 10-row bulk inserts and bulk renames, no-op
# updates, webflow.drain() from a session, multi-statement transactions,
# transactions rolled back on purpose and savepoints rolled back to.  Errors
# (deadlocks, the server restarting under it) roll a transaction back and
# are counted; the invariant does not need to know which transactions
# committed, since it compares the tables' final rows with Webflow.
#
# Names carry a token unique in the run (session and counter), so two rows
# never share a slug unless the workload reuses one on purpose (re-key,
# reused name).
package ChaosWorkload;

use strict;
use warnings;

use Exporter 'import';
use IPC::Run ();
use JSON::PP;
use POSIX ();
use Time::HiRes qw(time sleep);
use WebflowTest;

our @EXPORT = qw(
  create_tables start_sessions wait_sessions fault_plan inject_api_fault
  api_fault_processes collect_log check_invariant format_counts
  $AUTHOR_KEYS $BOOK_KEYS
);

our $AUTHOR_KEYS = 40;     # author ids are 1..40
our $BOOK_KEYS   = 160;    # book ids are 1..160

my $json = JSON::PP->new->utf8->canonical;

# create_tables(NODE): authors and books, bound to the Authors and Books
# collections.  A generated column puts each row's key into its item
# (website, plain-text), so an item at the fake names the row it was made
# for even when webflow.items has lost track of it.
sub create_tables
{
	my ($node) = @_;
	$node->safe_psql('postgres', qq{
CREATE TABLE authors (
    id      int PRIMARY KEY,
    name    text NOT NULL,
    bio     text,
    website text GENERATED ALWAYS AS ('https://example.com/authors/' || id) STORED);
CREATE TABLE books (
    id        int PRIMARY KEY,
    name      text NOT NULL,
    slug      text,
    author_id int REFERENCES authors ON DELETE SET NULL ON UPDATE CASCADE,
    blurb     text,
    ref       text GENERATED ALWAYS AS ('book ' || id) STORED);
SELECT webflow.bind('authors', '$AUTHORS');
SELECT webflow.bind('books', '$BOOKS',
    '{"fields": {"author_id": "author", "blurb": "rich-text", "ref": "plain-text"}}');
});
}

# ---------------------------------------------------------------------------
# The workload

# sql_quote(TEXT): a SQL string literal
sub sql_quote
{
	my ($v) = @_;
	return 'NULL' unless defined $v;
	$v =~ s/'/''/g;
	return "'$v'";
}

# A session's transaction generator: closures over its own counter and rand.
sub session_generator
{
	my ($session) = @_;
	my $counter = 0;
	my @decor = ('', '', '', 'Dr.', 'Ünïcødé', "O'Brien &", 'The Real', 'Ms', '«Ça»');
	my $token = sub { $counter++; "s${session}n$counter" };
	my $pick  = sub { $_[ int(rand(@_)) ] };
	my $aid   = sub { 1 + int(rand($AUTHOR_KEYS)) };
	my $bid   = sub { 1 + int(rand($BOOK_KEYS)) };
	my $name  = sub {
		my ($what) = @_;
		my $d = $pick->(@decor);
		return sql_quote(($d ? "$d " : '') . "$what " . $token->());
	};
	my $slug_or_null = sub {
		rand() < 0.3 ? sql_quote('bk-' . $token->()) : 'NULL';
	};

	# [weight, kind, code returning the SQL of one statement]
	my @ops = (
		[ 8, 'insert_author', sub {
			sprintf('INSERT INTO authors (id, name, bio) VALUES (%d, %s, %s) ON CONFLICT (id) DO NOTHING',
				$aid->(), $name->('Author'), sql_quote('Bio ' . $token->()));
		} ],
		[ 3, 'upsert_author', sub {
			sprintf('INSERT INTO authors (id, name) VALUES (%d, %s) ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name',
				$aid->(), $name->('Author'));
		} ],
		[ 8, 'rename_author', sub {
			sprintf('UPDATE authors SET name = %s WHERE id = %d', $name->('Author'), $aid->());
		} ],
		[ 4, 'update_author_bio', sub {
			sprintf('UPDATE authors SET bio = %s WHERE id = %d',
				rand() < 0.2 ? 'NULL' : sql_quote('Bio ' . $token->()), $aid->());
		} ],
		[ 3, 'delete_author', sub {
			sprintf('DELETE FROM authors WHERE id = %d', $aid->());
		} ],
		[ 1, 'rekey_author', sub {
			my ($a, $b) = ($aid->(), $aid->());
			sprintf('UPDATE authors SET id = %d WHERE id = %d AND NOT EXISTS (SELECT 1 FROM authors WHERE id = %d)',
				$b, $a, $b);
		} ],
		[ 16, 'insert_book', sub {
			sprintf('INSERT INTO books (id, name, slug, author_id, blurb) '
				  . 'SELECT %d, %s, %s, (SELECT id FROM authors WHERE id = %d), %s ON CONFLICT (id) DO NOTHING',
				$bid->(), $name->('Book'), $slug_or_null->(), $aid->(), sql_quote('Blurb ' . $token->()));
		} ],
		[ 10, 'rename_book', sub {
			sprintf('UPDATE books SET name = %s WHERE id = %d', $name->('Book'), $bid->());
		} ],
		[ 5, 'set_book_slug', sub {
			sprintf('UPDATE books SET slug = %s WHERE id = %d', $slug_or_null->(), $bid->());
		} ],
		[ 6, 'move_book', sub {
			sprintf('UPDATE books SET author_id = (SELECT id FROM authors WHERE id = %d) WHERE id = %d',
				$aid->(), $bid->());
		} ],
		[ 6, 'update_book_blurb', sub {
			sprintf('UPDATE books SET blurb = %s WHERE id = %d', sql_quote('Blurb ' . $token->()), $bid->());
		} ],
		[ 7, 'delete_book', sub {
			sprintf('DELETE FROM books WHERE id = %d', $bid->());
		} ],
		[ 2, 'rekey_book', sub {
			my ($a, $b) = ($bid->(), $bid->());
			sprintf('UPDATE books SET id = %d WHERE id = %d AND NOT EXISTS (SELECT 1 FROM books WHERE id = %d)',
				$b, $a, $b);
		} ],
		[ 2, 'reuse_book_name', sub {
			my ($a, $b) = ($bid->(), $bid->());
			$b = $b % $BOOK_KEYS + 1 if $a == $b;
			sprintf('WITH d AS (DELETE FROM books WHERE id = %d RETURNING name, slug, author_id) '
				  . 'INSERT INTO books (id, name, slug, author_id) SELECT %d, name, slug, author_id FROM d '
				  . 'ON CONFLICT (id) DO NOTHING', $a, $b);
		} ],
		[ 1, 'bulk_insert_books', sub {
			my $lo = $bid->();
			my $hi = $lo + 9 > $BOOK_KEYS ? $BOOK_KEYS : $lo + 9;
			my $t  = $token->();
			sprintf(q{INSERT INTO books (id, name, author_id) SELECT i, 'Bulk %s ' || i, (SELECT id FROM authors WHERE id = %d) FROM generate_series(%d, %d) i ON CONFLICT (id) DO NOTHING},
				$t, $aid->(), $lo, $hi);
		} ],
		[ 1, 'bulk_rename_books', sub {
			my $t = $token->();
			sprintf(q{UPDATE books SET name = 'Series %s ' || id WHERE author_id = %d}, $t, $aid->());
		} ],
		[ 2, 'noop_update', sub {
			sprintf('UPDATE books SET name = name WHERE id = %d', $bid->());
		} ],
	);
	# CHAOS_EXCLUDE_OPS="rekey_book reuse_book_name": leave kinds out
	my %exclude = map { $_ => 1 } split /[\s,]+/, $ENV{CHAOS_EXCLUDE_OPS} // '';
	@ops = grep { !$exclude{ $_->[1] } } @ops;
	my $total = 0;
	$total += $_->[0] for @ops;
	my $one_op = sub {
		my $r = rand($total);
		for my $op (@ops)
		{
			return ($op->[1], $op->[2]->()) if ($r -= $op->[0]) < 0;
		}
		return ($ops[-1][1], $ops[-1][2]->());
	};

	# returns (shape, [op kinds], SQL of one transaction)
	return sub {
		my $r = rand();
		my (@kinds, @sql);
		my $add = sub { my ($k, $s) = $one_op->(); push @kinds, $k; push @sql, "$s;"; };
		if ($r < 0.03)
		{
			return ('drain', ['drain'], 'SELECT webflow.drain();');
		}
		elsif ($r < 0.65)
		{
			$add->();
			return ('single', \@kinds, $sql[0]);
		}
		elsif ($r < 0.80)
		{
			$add->() for 1 .. 2 + int(rand(4));
			return ('multi', \@kinds, join(' ', 'BEGIN;', @sql, 'COMMIT;'));
		}
		elsif ($r < 0.93)
		{
			$add->() for 1 .. 1 + int(rand(4));
			return ('rollback', \@kinds, join(' ', 'BEGIN;', @sql, 'ROLLBACK;'));
		}
		else
		{
			$add->();
			my $keep = $sql[0];
			@sql = ();
			$add->() for 1 .. 2;
			my @undone = @sql;
			@sql = ();
			$add->();
			return ('savepoint', \@kinds,
				join(' ', 'BEGIN;', $keep, 'SAVEPOINT s;', @undone, 'ROLLBACK TO SAVEPOINT s;', @sql, 'COMMIT;'));
		}
	};
}

# session_main(%opts): a session's loop, in a forked process: one psql
# connection fed transaction after transaction (a new one when the server
# went away); writes its counts to DIR/session<N>.json.
sub session_main
{
	my (%o) = @_;
	srand($o{seed} * 1009 + $o{session});
	my $next     = session_generator($o{session});
	my $connstr  = $o{node}->connstr('postgres');
	my $deadline = $o{deadline};
	my %c        = (transactions => 0, connections => 0);
	my $max_tx   = 1_000_000;    # a bound on the loop besides the deadline
	my ($in, $out, $err, $h) = ('', '', '');
	my $timer = IPC::Run::timer(60);

	for (my $i = 0; $i < $max_tx && time < $deadline; $i++)
	{
		if (!$h || !$h->pumpable)
		{
			eval { $h->kill_kill if $h };
			($in, $out, $err) = ('', '', '');
			$h = IPC::Run::start(
				[ 'psql', '-X', '-q', '-A', '-t', '-d', $connstr ],
				'<', \$in, '>', \$out, '2>', \$err, $timer);
			$c{connections}++;
		}
		my ($shape, $kinds, $sql) = $next->();
		($out, $err) = ('', '');
		$in .= "$sql\n\\echo __END__$i\n";
		$timer->start(60);
		my $done = eval {
			$h->pump while $out !~ /__END__$i\b/ && $h->pumpable && !$timer->is_expired;
			$out =~ /__END__$i\b/;
		};
		$c{transactions}++;
		if ($done && $err !~ /ERROR|FATAL|PANIC/)
		{
			$c{"tx_$shape"}++;
			if ($shape ne 'rollback')
			{
				$c{statements_committed} += @$kinds;
				$c{"op_$_"}++ for @$kinds;
			}
			sleep(rand(0.02));
			next;
		}
		my ($first) = $err =~ /((?:ERROR|FATAL|PANIC):.*)/;
		$first //= $done ? $err : $timer->is_expired ? 'timeout' : 'psql ended: ' . $err;
		my $why = $first eq 'timeout' ? 'timeout'
		  : $first =~ /deadlock/ ? 'deadlock'
		  : $first =~ /foreign key|unique|duplicate key/ ? 'constraint'
		  : $first =~ /could not serialize|concurrent update/ ? 'serialization'
		  : $first =~ /connect|terminat|shut|recovery|starting up|closed|server|psql ended/i ? 'server_down'
		  : 'other';
		$c{"tx_error_$why"}++;
		$c{"last_error_$why"} = substr($first, 0, 300) if $why eq 'other';
		if (!$done)
		{
			eval { $h->kill_kill };
			$h = undef;
			sleep(0.2);
		}
		sleep(rand(0.02));
	}
	if ($h)
	{
		$in .= "\\q\n";
		eval { $h->finish; 1 } or eval { $h->kill_kill };
	}
	open my $fh, '>', "$o{dir}/session$o{session}.json" or die $!;
	print $fh $json->encode(\%c);
	close $fh;
}

# start_sessions(node, seed, sessions, seconds, dir): forks the sessions;
# returns their descriptions.
sub start_sessions
{
	my (%o) = @_;
	my @sessions;
	my $deadline = time + $o{seconds};
	for my $s (1 .. $o{sessions})
	{
		my $pid = fork();
		die "fork: $!" unless defined $pid;
		if ($pid == 0)
		{
			# a child must not run the parent's END blocks (they stop the
			# nodes and the fake): leave with _exit
			my $rc = eval { session_main(%o, session => $s, deadline => $deadline); 1 } ? 0 : 1;
			print STDERR "session $s: $@" if $rc;
			POSIX::_exit($rc);
		}
		push @sessions, { pid => $pid, session => $s, dir => $o{dir} };
	}
	return \@sessions;
}

# wait_sessions(SESSIONS, TIMEOUT): waits for the sessions (killing those
# still running after TIMEOUT seconds) and returns their summed counts.
sub wait_sessions
{
	my ($sessions, $timeout) = @_;
	my $deadline = time + $timeout;
	my %left = map { $_->{pid} => 1 } @$sessions;
	while (%left && time < $deadline)
	{
		for my $pid (keys %left)
		{
			delete $left{$pid} if waitpid($pid, POSIX::WNOHANG()) != 0;
		}
		sleep(0.1) if %left;
	}
	for my $pid (keys %left)
	{
		kill 'KILL', $pid;
		waitpid($pid, 0);
	}
	my %sum = (sessions_killed => scalar(keys %left));
	for my $s (@$sessions)
	{
		my $file = "$s->{dir}/session$s->{session}.json";
		next unless -f $file;
		my $c = $json->decode(PostgreSQL::Test::Utils::slurp_file($file));
		for (keys %$c)
		{
			if (/^last_error/) { $sum{$_} //= $c->{$_}; }
			else { $sum{$_} += $c->{$_}; }
		}
	}
	return \%sum;
}

# ---------------------------------------------------------------------------
# Faults

# API fault kinds: what the fake does, and whether it processes the request
# (so the change happens although the client sees a failure).
my %API_FAULTS = (
	http_500           => { status => 500 },
	http_503           => { status => 503 },
	'429_retry_after'  => { status => 429 },
	'429_no_retry_after' => { status => 429 },
	timeout            => { delay_ms => 3000, process => JSON::PP::true },
	drop_after_process => { drop => JSON::PP::true, process => JSON::PP::true },
	drop_before_process => { drop => JSON::PP::true, process => JSON::PP::false },
	malformed_json     => { malformed => JSON::PP::true, process => JSON::PP::true },
);
my @API_KINDS = sort grep { $_ ne '429_no_retry_after' } keys %API_FAULTS;
my @WORKER_KINDS = qw(sigkill_worker terminate_worker restart_immediate);

# api_fault_processes(KIND): whether a fault of that kind lets the request
# through to the fake's state
sub api_fault_processes
{
	my $f = $API_FAULTS{ $_[0] } or return 0;
	return $f->{process} ? 1 : 0;
}

# fault_plan(SEED, SECONDS): the run's fault schedule, sorted by time.  API
# faults every 0.5-2.5 s, cycling through every kind in a seeded order;
# worker faults every 6-16 s, cycling through SIGKILL, pg_terminate_backend
# and an immediate stop + start; one 429 without Retry-After (a 60 s pause)
# 3 s in, cleared by the first worker fault, a SIGKILL (the crash restart
# resets shared memory); in long runs another one every 10 minutes.
sub fault_plan
{
	my ($seed, $seconds) = @_;
	srand($seed);
	my @plan;
	my @api = @API_KINDS;
	my $t = 1.0;
	my $i = 0;
	while ($t < $seconds - 2)
	{
		if ($i % @api == 0)
		{
			# a new cycle: a seeded order
			for (my $j = $#api; $j > 0; $j--)
			{
				my $k = int(rand($j + 1));
				@api[ $j, $k ] = @api[ $k, $j ];
			}
		}
		push @plan, { at => $t, type => 'api', kind => $api[ $i % @api ], rand => rand() };
		$i++;
		$t += 0.5 + rand(2.0);
	}
	push @plan, { at => 3.0, type => 'api', kind => '429_no_retry_after', rand => rand() };
	for (my $at = 600; $at < $seconds - 90; $at += 600)
	{
		push @plan, { at => $at, type => 'api', kind => '429_no_retry_after', rand => rand() };
	}
	$t = 8.0;
	$i = 0;
	while ($t < $seconds - 3)
	{
		push @plan, { at => $t, type => 'worker', kind => $WORKER_KINDS[ $i % @WORKER_KINDS ] };
		$i++;
		$t += 6 + rand(10);
	}
	return [ sort { $a->{at} <=> $b->{at} } @plan ];
}

# inject_api_fault(KIND, R): queues one fault of that kind at the fake; R (a
# number in [0,1) from the plan) picks the request it waits for: creates
# most often (where an unknown outcome can duplicate), else updates,
# deletes or any item request (lookups included).
sub inject_api_fault
{
	my ($kind, $r) = @_;
	my %f = (%{ $API_FAULTS{$kind} }, name => $kind, count => 1);
	my $path = '/collections/[0-9a-f]{24}/items';
	my %match = (path => $path);
	if    ($r < 0.45) { $match{method} = 'POST'; }
	elsif ($r < 0.65) { $match{method} = 'PATCH'; }
	elsif ($r < 0.80) { $match{method} = 'DELETE'; }
	$f{retry_after} = 1 + int($r * 10) % 2 if $kind eq '429_retry_after';
	$f{count} = 1 + int($r * 100) % 3 if $kind eq 'http_500';
	$f{match} = \%match;
	fake_fault(\%f);
	return \%f;
}

# compact_entry(LOG ENTRY): what the post-mortem needs of a request: the
# request line, status and fault, and per item its id, slug and the key
# column that the item carries (website, plain-text)
sub compact_entry
{
	my ($e) = @_;
	my %c = map { $_ => $e->{$_} } qw(seq time method path query_string status fault items_in_body);
	my $body = ref $e->{body} eq 'HASH' ? $e->{body} : {};
	my @items = ref $body->{items} eq 'ARRAY' ? @{ $body->{items} } : ();
	$c{items} = [ map {
			my $fd = ref $_ eq 'HASH' && ref $_->{fieldData} eq 'HASH' ? $_->{fieldData} : {};
			{ id => (ref $_ eq 'HASH' ? $_->{id} : $_), slug => $fd->{slug},
			  key => $fd->{website} // $fd->{'plain-text'} }
		} @items ] if @items;
	$c{itemIds} = $body->{itemIds} if $body->{itemIds};
	return \%c;
}

# collect_log(STATE): reads the fake's request log since STATE->{seq},
# appends it to the file STATE->{file} (JSON lines) if given, and adds it
# up in STATE: requests, faults hit by kind, creates by collection
# and slug (clean 2xx ones, and those a processing fault may have let
# through), and slug conflicts answered to creates.
sub collect_log
{
	my ($st) = @_;
	my $entries = fake_log($st->{seq} // 0);
	if ($st->{file} && @$entries)
	{
		open my $fh, '>>', $st->{file} or die "$st->{file}: $!";
		print $fh $json->encode(compact_entry($_)), "\n" for @$entries;
		close $fh;
	}
	for my $e (@$entries)
	{
		$st->{lost_log_entries} += $e->{seq} - ($st->{seq} // 0) - 1
		  if $e->{seq} > ($st->{seq} // 0) + 1;
		$st->{seq} = $e->{seq};
		$st->{requests}++;
		$st->{by_method}{ $e->{method} }++;
		$st->{faults_hit}{ $e->{fault} }++ if $e->{fault};
		next unless $e->{method} eq 'POST' && $e->{path} =~ m{/collections/([0-9a-f]{24})/items(?:/live)?$};
		my $coll  = $1;
		my $clean = !$e->{fault} && defined $e->{status} && $e->{status} =~ /^2/;
		my $maybe = $e->{fault} && api_fault_processes($e->{fault});
		my $items = ref $e->{body} eq 'HASH' ? $e->{body}{items} // [] : [];
		for my $item (@$items)
		{
			my $slug = ref $item eq 'HASH' && $item->{fieldData} ? $item->{fieldData}{slug} : undef;
			next unless defined $slug;
			$st->{creates}{$coll}{$slug}{clean}++ if $clean;
			$st->{creates}{$coll}{$slug}{maybe}++ if $maybe;
		}
		$st->{create_requests}{$coll}++;
		$st->{create_items}{$coll} += scalar @$items;
		if (!$e->{fault} && ($e->{status} // 0) == 400)
		{
			$st->{slug_conflicts}{$coll}++;
		}
	}
	return $st;
}

# ---------------------------------------------------------------------------
# The invariant

# rows(NODE, SQL): the rows of a query returning one json object per row
sub rows_json
{
	my ($node, $sql) = @_;
	my $out = $node->safe_psql('postgres', "SELECT coalesce(json_agg(r), '[]') FROM ($sql) r");
	return $json->decode($out);
}

# check_invariant(NODE, FIXTURE_IDS): compares each collection with its
# table.  FIXTURE_IDS: {collection => {item id => 1}} of items that were at
# the fake before the run.  Returns {collection name => report}, each report
# with rows, items, lost, orphans, mismatched, shared, duplicate_slugs,
# stale_map, not_live and examples of each problem.
sub check_invariant
{
	my ($node, $fixture) = @_;
	my %report;
	my $authors_map = { map { $_->{k} => $_->{i} } @{ rows_json($node,
		"SELECT source_key AS k, item_id AS i FROM webflow.items WHERE collection_id = '$AUTHORS'") } };
	my %spec = (
		authors => {
			collection => $AUTHORS,
			rows       => rows_json($node, q{SELECT id::text AS key, name, webflow.slugify(name) AS slug,
			                                         bio, website FROM authors}),
			expect => sub {
				my ($r) = @_;
				return { name => $r->{name}, slug => $r->{slug}, bio => $r->{bio}, website => $r->{website} };
			},
		},
		books => {
			collection => $BOOKS,
			rows       => rows_json($node, q{SELECT id::text AS key, name,
			                  coalesce(nullif(slug, ''), webflow.slugify(name)) AS slug,
			                  author_id::text AS author_key, blurb, ref FROM books}),
			expect => sub {
				my ($r) = @_;
				return {
					name => $r->{name}, slug => $r->{slug}, 'rich-text' => $r->{blurb},
					'plain-text' => $r->{ref},
					author => defined $r->{author_key}
					? ($authors_map->{ $r->{author_key} } // "(author $r->{author_key} unmapped)")
					: undef };
			},
		},
	);
	my %live_authors;
	for my $name (qw(authors books))
	{
		my $s    = $spec{$name};
		my $coll = $s->{collection};
		my $map  = { map { $_->{k} => $_->{i} } @{ rows_json($node,
			"SELECT source_key AS k, item_id AS i FROM webflow.items WHERE collection_id = '$coll'") } };
		my @items = grep { !$fixture->{$coll}{ $_->{id} } } @{ fake_items($coll) };
		my %by_id = map { $_->{id} => $_ } @items;
		my %rep = (rows => scalar @{ $s->{rows} }, items => scalar @items,
			live_items => scalar(grep { $_->{isLive} } @items));
		my %row_keys = map { $_->{key} => 1 } @{ $s->{rows} };
		my %claimed;
		for my $r (@{ $s->{rows} })
		{
			my $id = $map->{ $r->{key} };
			if (!defined $id)
			{
				$rep{lost}++;
				push @{ $rep{examples}{lost} }, "row $r->{key} ($r->{slug}) has no item in webflow.items";
				next;
			}
			$claimed{$id}++;
			my $item = $by_id{$id};
			if (!$item)
			{
				$rep{lost}++;
				push @{ $rep{examples}{lost} }, "row $r->{key} ($r->{slug}) maps to $id, which the fake does not have";
				next;
			}
			if (!$item->{isLive} || $item->{isDraft} || $item->{isArchived})
			{
				$rep{not_live}++;
				push @{ $rep{examples}{not_live} }, "row $r->{key}: item $id is not live";
			}
			my $want = $s->{expect}->($r);
			my $got  = $item->{liveFieldData} // {};
			my @diff;
			for my $f (sort keys %$want)
			{
				my ($w, $g) = ($want->{$f}, $got->{$f});
				push @diff, "$f: want " . ($w // 'null') . ', live ' . ($g // 'null')
				  if (defined $w xor defined $g) || (defined $w && $w ne $g);
			}
			if (@diff)
			{
				$rep{mismatched}++;
				push @{ $rep{examples}{mismatched} }, "row $r->{key} item $id: " . join('; ', @diff);
			}
		}
		for my $id (keys %claimed)
		{
			next unless $claimed{$id} > 1;
			$rep{shared} += $claimed{$id} - 1;
			push @{ $rep{examples}{shared} }, "item $id is mapped by $claimed{$id} rows";
		}
		for my $k (keys %$map)
		{
			next if $row_keys{$k};
			$rep{stale_map}++;
			push @{ $rep{examples}{stale_map} }, "webflow.items maps key $k (no such row) to $map->{$k}";
		}
		my %slugs;
		for my $item (@items)
		{
			my $slug = $item->{fieldData}{slug} // '';
			$slugs{$slug}++;
			next if $claimed{ $item->{id} };
			$rep{orphans}++;
			push @{ $rep{examples}{orphans} },
			  sprintf('item %s (%s, %s, %s) belongs to no row', $item->{id}, $slug,
				$item->{fieldData}{website} // $item->{fieldData}{'plain-text'} // '?',
				$item->{isLive} ? 'live' : 'not live');
		}
		$rep{duplicate_slugs} = scalar grep { $slugs{$_} > 1 } keys %slugs;
		$rep{$_} //= 0 for qw(lost orphans mismatched shared stale_map not_live);
		$report{$name} = \%rep;
	}
	return \%report;
}

# format_counts(HASH): "a 1, b 2" sorted by key
sub format_counts
{
	my ($h) = @_;
	return join(', ', map { "$_ $h->{$_}" } sort keys %{ $h // {} }) || 'none';
}

1;
