# t/ChaosWorkload.pm: the pieces of the chaos test (t/050_chaos.pl) that are
# not about one test run: the bound tables, the seeded workload of
# concurrent sessions, the seeded fault schedule, the "Designer" who changes
# Webflow behind the extension's back, the collector of the fake's request
# log, and the oracle that compares what a site visitor sees with the tables.
#
#   use ChaosWorkload;
#   my $notes = create_notes_collection();  # a collection of its own for "notes"
#   empty_collections();                    # the Designer deletes every item first
#   create_tables($node);                   # five tables, each bound to its collection
#   my $sessions = start_sessions(node => $node, seed => 42, sessions => 4,
#                                 seconds => 60, dir => $tmp);
#   my $designer = start_designer(node => $node, seed => 42, seconds => 60, dir => $tmp);
#   my $plan = fault_plan(42, 60);          # [{at => s, type => ..., kind => ...}]
#   inject_api_fault($plan_entry);          # queues one fault at the fake
#   my $totals = wait_sessions($sessions, 90);
#   my $view = site_report($node);          # {table => {missing, stale, extra, duplicate, ...}}
#
# The tables (one collection each; a generated column puts each row's key
# into a field of its item, so an item names the row it was made for):
#   authors  Authors  on_delete unpublish (the default)   key in website
#   books    Books    on_delete unpublish; author_id -> Reference "author"   key in plain-text
#   jobs     Jobs     on_delete archive                   key in url
#   tags     Tags     on_delete unpublish_only            key in description
#   notes    Notes    "live": false (staged items; a delete deletes)   key in ref
#
# The workload: each session (a forked process, its own RNG seeded from the
# run's seed and its number) runs transactions through psql until its
# deadline: inserts, upserts, renames (which change the slug), explicit book
# slugs set and cleared, field values changed, books moved between authors,
# deletes (books' author_id is ON DELETE SET NULL), re-keyed rows of every
# table (UPDATE ... SET id: a delete of the old key under its table's
# on_delete and a create of the new one under the same slug), two rows that
# swap names (and books their slugs) in one UPDATE ... SET name = CASE ...,
# a row created and deleted again a moment later, a book deleted and its
# name reused by another key, 10-row bulk inserts and bulk renames, no-op
# updates, webflow.drain() from a session, multi-statement transactions,
# transactions rolled back on purpose and savepoints rolled back to.
# Errors (deadlocks, the server restarting under it) roll a transaction
# back and are counted; the oracle does not need to know which transactions
# committed, since it compares the tables' final rows with Webflow.
#
# Names carry a token unique in the run (session and counter), so two rows
# never share a slug unless the workload swaps or reuses one on purpose.
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
  create_notes_collection empty_collections create_tables start_sessions wait_sessions
  start_designer wait_designer restore_schema fault_plan inject_api_fault
  api_fault_processes fault_name_parts collect_log site_report verify_report
  failed_rows timelines format_counts table_names
  %TABLES $NOTES
);

our $NOTES;    # the Notes collection, made by create_notes_collection()

# The bound tables: collection, key range, on_delete, whether the binding
# publishes live items, the field that carries the row's key, and the SQL of
# the values a row's item must show (key, name, slug, f: {field => value}).
our %TABLES = (
	authors => {
		collection => sub { $AUTHORS }, keys => 40, on_delete => 'unpublish', live => 1,
		key_field => 'website', key_re => qr{^https://example\.com/authors/(\d+)$},
		expect_sql => q{SELECT id::text AS key, name, webflow.slugify(name) AS slug,
		                       json_build_object('bio', bio, 'website', website) AS f FROM authors},
	},
	books => {
		collection => sub { $BOOKS }, keys => 160, on_delete => 'unpublish', live => 1,
		key_field => 'plain-text', key_re => qr{^book (\d+)$},
		expect_sql => q{SELECT id::text AS key, name, coalesce(nullif(slug, ''), webflow.slugify(name)) AS slug,
		                       json_build_object('rich-text', blurb, 'plain-text', ref,
		                                         'author', author_id::text) AS f FROM books},
		refs => { author => 'authors' },
	},
	jobs => {
		collection => sub { $JOBS }, keys => 40, on_delete => 'archive', live => 1,
		key_field => 'url', key_re => qr{^https://example\.com/jobs/(\d+)$},
		expect_sql => q{SELECT id::text AS key, name, webflow.slugify(name) AS slug,
		                       json_build_object('department', department, 'url', url) AS f FROM jobs},
	},
	tags => {
		collection => sub { $TAGS }, keys => 40, on_delete => 'unpublish_only', live => 1,
		key_field => 'description', key_re => qr{^tag (\d+)(?::|$)},
		expect_sql => q{SELECT id::text AS key, name, webflow.slugify(name) AS slug,
		                       json_build_object('description', description) AS f FROM tags},
	},
	notes => {
		collection => sub { $NOTES }, keys => 60, on_delete => 'delete', live => 0,
		key_field => 'ref', key_re => qr{^note (\d+)$},
		expect_sql => q{SELECT id::text AS key, name, webflow.slugify(name) AS slug,
		                       json_build_object('body', body, 'ref', ref) AS f FROM notes},
	},
);
my @TABLE_ORDER = qw(authors books jobs tags notes);
sub table_names { return @TABLE_ORDER; }

# the field a Designer may edit in each table's items (never the key field)
my %EDITABLE = (authors => 'bio', books => 'rich-text', jobs => 'department', notes => 'body');
# fields the rows always fill (made required: no row may fail for it) and
# fields some rows leave empty (made required: those rows fail, legitimately)
my %ALWAYS_FILLED = (authors => 'website', books => 'plain-text', jobs => 'url',
	tags => 'description', notes => 'ref');
my %SOMETIMES_EMPTY = (authors => 'bio', jobs => 'department');

my $json = JSON::PP->new->utf8->canonical;

sub coll_of { return $TABLES{ $_[0] }{collection}->(); }

# table_of_collection(ID): the table bound to a collection, or undef
sub table_of_collection
{
	my ($cid) = @_;
	for my $t (@TABLE_ORDER)
	{
		my $c = coll_of($t);
		return $t if defined $c && $c eq $cid;
	}
	return undef;
}

# item_key(TABLE, FIELDDATA): the row key an item carries, or undef
sub item_key
{
	my ($t, $fd) = @_;
	return undef unless ref $fd eq 'HASH';
	my $v = $fd->{ $TABLES{$t}{key_field} } // return undef;
	return $v =~ $TABLES{$t}{key_re} ? $1 : undef;
}

# ---------------------------------------------------------------------------
# Setup

# create_notes_collection(): the Notes collection (Body, Ref), made through
# the public API (Create Collection); returns its id
sub create_notes_collection
{
	my ($st, $c) = fake_api('POST', "/sites/$SITE/collections", {
			displayName => 'Chaos Notes', singularName => 'Chaos Note', slug => 'chaos-notes',
			fields => [ { type => 'PlainText', displayName => 'Body' },
				{ type => 'PlainText', displayName => 'Ref' } ] }, actor => 'setup');
	die "Create Collection: $st\n" unless $st == 200 && $c->{id};
	$NOTES = $c->{id};
	return $NOTES;
}

# empty_collections(): every item of the five collections deleted, as in
# the Designer (so that every live item afterwards is one the test explains)
sub empty_collections
{
	for my $t (@TABLE_ORDER)
	{
		my $coll = coll_of($t);
		for my $it (@{ fake_pages($coll, live => 0, token => 'test-token', actor => 'setup') })
		{
			my ($st) = fake_api('DELETE', "/collections/$coll/items/$it->{id}", undef, actor => 'setup');
			die "deleting item $it->{id} of $coll: $st\n" unless $st == 204 || $st == 404;
		}
	}
}

# create_tables(NODE): the five tables, bound to their collections
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
CREATE TABLE jobs (
    id         int PRIMARY KEY,
    name       text NOT NULL,
    department text,
    url        text GENERATED ALWAYS AS ('https://example.com/jobs/' || id) STORED);
CREATE TABLE tags (
    id          int PRIMARY KEY,
    name        text NOT NULL,
    note        text,
    description text GENERATED ALWAYS AS ('tag ' || id || coalesce(': ' || note, '')) STORED);
CREATE TABLE notes (
    id   int PRIMARY KEY,
    name text NOT NULL,
    body text,
    ref  text GENERATED ALWAYS AS ('note ' || id) STORED);
SELECT webflow.bind('authors', '$AUTHORS');
SELECT webflow.bind('books', '$BOOKS',
    '{"fields": {"author_id": "author", "blurb": "rich-text", "ref": "plain-text"}}');
SELECT webflow.bind('jobs', '$JOBS', '{"on_delete": "archive"}');
SELECT webflow.bind('tags', '$TAGS', '{"on_delete": "unpublish_only", "exclude": ["note"]}');
SELECT webflow.bind('notes', '$NOTES', '{"live": false}');
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

# swap_sql(TABLE, A, B, COLUMNS): two rows swap the values of COLUMNS in one
# UPDATE (only when both exist)
sub swap_sql
{
	my ($t, $a, $b, @cols) = @_;
	my $set = join(', ', map {
			"$_ = CASE id WHEN $a THEN (SELECT $_ FROM $t WHERE id = $b) ELSE (SELECT $_ FROM $t WHERE id = $a) END"
	} @cols);
	return "UPDATE $t SET $set WHERE id IN ($a, $b) AND $a <> $b "
	  . "AND (SELECT count(*) FROM $t WHERE id IN ($a, $b)) = 2";
}

# A session's transaction generator: closures over its own counter and rand.
sub session_generator
{
	my ($session) = @_;
	my $counter = 0;
	my @decor = ('', '', '', 'Dr.', 'Ünïcødé', "O'Brien &", 'The Real', 'Ms', '«Ça»');
	my $token = sub { $counter++; "s${session}n$counter" };
	my $pick  = sub { $_[ int(rand(@_)) ] };
	my %key   = map { my $t = $_; ($t => sub { 1 + int(rand($TABLES{$t}{keys})) }) } @TABLE_ORDER;
	my $aid   = $key{authors};
	my $bid   = $key{books};
	my $name  = sub {
		my ($what) = @_;
		my $d = $pick->(@decor);
		return sql_quote(($d ? "$d " : '') . "$what " . $token->());
	};
	my $slug_or_null = sub {
		rand() < 0.3 ? sql_quote('bk-' . $token->()) : 'NULL';
	};
	my $rekey = sub {
		my ($t) = @_;
		my ($a, $b) = ($key{$t}->(), $key{$t}->());
		sprintf('UPDATE %s SET id = %d WHERE id = %d AND NOT EXISTS (SELECT 1 FROM %s WHERE id = %d)',
			$t, $b, $a, $t, $b);
	};
	my %insert = (
		authors => sub { sprintf('INSERT INTO authors (id, name, bio) VALUES (%d, %s, %s) ON CONFLICT (id) DO NOTHING',
				$_[0] // $aid->(), $name->('Author'), sql_quote('Bio ' . $token->())) },
		books => sub { sprintf('INSERT INTO books (id, name, slug, author_id, blurb) '
				  . 'SELECT %d, %s, %s, (SELECT id FROM authors WHERE id = %d), %s ON CONFLICT (id) DO NOTHING',
				$_[0] // $bid->(), $name->('Book'), $slug_or_null->(), $aid->(), sql_quote('Blurb ' . $token->())) },
		jobs => sub { sprintf('INSERT INTO jobs (id, name, department) VALUES (%d, %s, %s) ON CONFLICT (id) DO NOTHING',
				$_[0] // $key{jobs}->(), $name->('Job'), rand() < 0.2 ? 'NULL' : sql_quote('Dept ' . $token->())) },
		tags => sub { sprintf('INSERT INTO tags (id, name, note) VALUES (%d, %s, %s) ON CONFLICT (id) DO NOTHING',
				$_[0] // $key{tags}->(), $name->('Tag'), rand() < 0.3 ? 'NULL' : sql_quote('note ' . $token->())) },
		notes => sub { sprintf('INSERT INTO notes (id, name, body) VALUES (%d, %s, %s) ON CONFLICT (id) DO NOTHING',
				$_[0] // $key{notes}->(), $name->('Note'), sql_quote('Body ' . $token->())) },
	);

	# [weight, kind, code returning the SQL of one statement]
	my @ops = (
		[ 8, 'insert_author', sub { $insert{authors}->() } ],
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
		[ 3, 'delete_author', sub { sprintf('DELETE FROM authors WHERE id = %d', $aid->()); } ],
		[ 1, 'rekey_author', sub { $rekey->('authors') } ],
		[ 2, 'swap_author_names', sub { swap_sql('authors', $aid->(), $aid->(), 'name') } ],
		[ 16, 'insert_book', sub { $insert{books}->() } ],
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
		[ 7, 'delete_book', sub { sprintf('DELETE FROM books WHERE id = %d', $bid->()); } ],
		[ 2, 'rekey_book', sub { $rekey->('books') } ],
		[ 3, 'swap_book_names', sub { swap_sql('books', $bid->(), $bid->(), 'name', 'slug') } ],
		[ 2, 'reuse_book_name', sub {
			my ($a, $b) = ($bid->(), $bid->());
			$b = $b % $TABLES{books}{keys} + 1 if $a == $b;
			sprintf('WITH d AS (DELETE FROM books WHERE id = %d RETURNING name, slug, author_id) '
				  . 'INSERT INTO books (id, name, slug, author_id) SELECT %d, name, slug, author_id FROM d '
				  . 'ON CONFLICT (id) DO NOTHING', $a, $b);
		} ],
		[ 1, 'bulk_insert_books', sub {
			my $lo = $bid->();
			my $hi = $lo + 9 > $TABLES{books}{keys} ? $TABLES{books}{keys} : $lo + 9;
			my $t  = $token->();
			sprintf(q{INSERT INTO books (id, name, author_id) SELECT i, 'Bulk %s ' || i, (SELECT id FROM authors WHERE id = %d) FROM generate_series(%d, %d) i ON CONFLICT (id) DO NOTHING},
				$t, $aid->(), $lo, $hi);
		} ],
		[ 1, 'bulk_rename_books', sub {
			my $t = $token->();
			sprintf(q{UPDATE books SET name = 'Series %s ' || id WHERE author_id = %d}, $t, $aid->());
		} ],
		[ 2, 'noop_update', sub { sprintf('UPDATE books SET name = name WHERE id = %d', $bid->()); } ],
		# jobs (on_delete archive)
		[ 5, 'insert_job', sub { $insert{jobs}->() } ],
		[ 4, 'rename_job', sub { sprintf('UPDATE jobs SET name = %s WHERE id = %d', $name->('Job'), $key{jobs}->()) } ],
		[ 2, 'update_job_department', sub {
			sprintf('UPDATE jobs SET department = %s WHERE id = %d',
				rand() < 0.2 ? 'NULL' : sql_quote('Dept ' . $token->()), $key{jobs}->());
		} ],
		[ 3, 'delete_job', sub { sprintf('DELETE FROM jobs WHERE id = %d', $key{jobs}->()) } ],
		[ 2, 'rekey_job', sub { $rekey->('jobs') } ],
		[ 2, 'swap_job_names', sub { swap_sql('jobs', $key{jobs}->(), $key{jobs}->(), 'name') } ],
		# tags (on_delete unpublish_only)
		[ 5, 'insert_tag', sub { $insert{tags}->() } ],
		[ 4, 'rename_tag', sub { sprintf('UPDATE tags SET name = %s WHERE id = %d', $name->('Tag'), $key{tags}->()) } ],
		[ 2, 'update_tag_note', sub {
			sprintf('UPDATE tags SET note = %s WHERE id = %d',
				rand() < 0.2 ? 'NULL' : sql_quote('note ' . $token->()), $key{tags}->());
		} ],
		[ 3, 'delete_tag', sub { sprintf('DELETE FROM tags WHERE id = %d', $key{tags}->()) } ],
		[ 2, 'rekey_tag', sub { $rekey->('tags') } ],
		[ 2, 'swap_tag_names', sub { swap_sql('tags', $key{tags}->(), $key{tags}->(), 'name') } ],
		# notes (staged items)
		[ 5, 'insert_note', sub { $insert{notes}->() } ],
		[ 4, 'rename_note', sub { sprintf('UPDATE notes SET name = %s WHERE id = %d', $name->('Note'), $key{notes}->()) } ],
		[ 2, 'update_note_body', sub {
			sprintf('UPDATE notes SET body = %s WHERE id = %d', sql_quote('Body ' . $token->()), $key{notes}->());
		} ],
		[ 3, 'delete_note', sub { sprintf('DELETE FROM notes WHERE id = %d', $key{notes}->()) } ],
		[ 2, 'rekey_note', sub { $rekey->('notes') } ],
		[ 2, 'swap_note_names', sub { swap_sql('notes', $key{notes}->(), $key{notes}->(), 'name') } ],
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
		elsif ($r < 0.07 && !$exclude{create_delete})
		{
			# a row created, then deleted again a moment later (each
			# statement commits on its own): while its create is being
			# sent, retried, or after its answer was lost
			my $t = $pick->(@TABLE_ORDER);
			my $k = $key{$t}->();
			return ('create_delete', ["create_delete_$t"],
				sprintf('%s; SELECT pg_sleep(%.2f); DELETE FROM %s WHERE id = %d;',
					$insert{$t}->($k), rand(1.5), $t, $k));
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

# fork_child(CODE): runs CODE in a forked process that leaves with _exit (a
# child must not run the parent's END blocks: they stop the nodes and the
# fake); returns its pid
sub fork_child
{
	my ($name, $code) = @_;
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	return $pid if $pid;
	my $rc = eval { $code->(); 1 } ? 0 : 1;
	print STDERR "$name: $@" if $rc;
	POSIX::_exit($rc);
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
		my $pid = fork_child("session $s", sub { session_main(%o, session => $s, deadline => $deadline) });
		push @sessions, { pid => $pid, session => $s, dir => $o{dir} };
	}
	return \@sessions;
}

# wait_pids(PIDS, TIMEOUT): waits for the processes, kills those still
# running after TIMEOUT seconds; returns how many had to be killed
sub wait_pids
{
	my ($pids, $timeout) = @_;
	my $deadline = time + $timeout;
	my %left = map { $_ => 1 } @$pids;
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
	return scalar(keys %left);
}

# wait_sessions(SESSIONS, TIMEOUT): waits for the sessions (killing those
# still running after TIMEOUT seconds) and returns their summed counts.
sub wait_sessions
{
	my ($sessions, $timeout) = @_;
	my %sum = (sessions_killed => wait_pids([ map { $_->{pid} } @$sessions ], $timeout));
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
# The Designer: someone who changes Webflow behind the extension's back,
# through the public API (with X-Fake-Actor: designer, so that no injected
# fault meant for the extension hits it): items edited (a field, the name,
# the slug), deleted, unpublished and archived; a field added and removed
# again; a field the rows always fill made required for a while, and one
# some rows leave empty (those rows fail while it is required: that is
# legitimate, and the verdict accounts for it).  And an operator who runs
# webflow.sync() and webflow.refresh_schema() now and then while the faults
# go on.  Every action is a JSON line in DIR/designer.jsonl.

sub designer_main
{
	my (%o) = @_;
	srand($o{seed} * 7919 + 17);
	my $t0       = time;
	my $deadline = $t0 + $o{seconds};
	my $n        = 0;
	open my $log, '>>', "$o{dir}/designer.jsonl" or die "designer.jsonl: $!";
	$log->autoflush(1);
	my $note = sub {
		my (%e) = @_;
		print $log $json->encode({ t => sprintf('%.2f', time - $t0), %e }), "\n";
	};
	my $api = sub {
		my ($method, $path, $body) = @_;
		my ($st, $d) = fake_api($method, $path, $body, actor => 'designer');
		return ($st, $d);
	};
	my $sql = sub {
		my ($q) = @_;
		my ($out, $err) = ('', '');
		my $rc = eval { $o{node}->psql('postgres', $q, stdout => \$out, stderr => \$err, timeout => 30) } // -1;
		$err =~ s/\s+/ /g;
		return ($rc, $out, substr($err, 0, 200));
	};
	my $field_id = sub {
		my ($coll, $slug) = @_;
		my ($st, $c) = $api->('GET', "/collections/$coll");
		return undef unless $st == 200;
		my ($f) = grep { $_->{slug} eq $slug } @{ $c->{fields} // [] };
		return $f ? $f->{id} : undef;
	};
	my $set_required = sub {
		my ($t, $slug, $on, $why) = @_;
		my $coll = coll_of($t);
		my $fid  = $field_id->($coll, $slug);
		my ($st) = $fid ? $api->('PATCH', "/collections/$coll/fields/$fid", { isRequired => $on ? JSON::PP::true : JSON::PP::false }) : (0);
		$note->(action => $on ? 'require_field' : 'unrequire_field', table => $t, field => $slug,
			why => $why, status => $st);
	};

	# the schema changes of each 120 s cycle (the CI run has one): [fraction
	# of the cycle, code]
	my $cycle = $o{seconds} < 150 ? $o{seconds} : 120;
	my @schema_plan;
	for (my $c0 = 0; $c0 + $cycle <= $o{seconds} + 1; $c0 += $cycle)
	{
		my $t_add = $TABLE_ORDER[ int(rand(@TABLE_ORDER)) ];
		my $t_req = $TABLE_ORDER[ int(rand(@TABLE_ORDER)) ];
		my $t_emp = (sort keys %SOMETIMES_EMPTY)[ int(rand(2)) ];
		my $added;
		push @schema_plan,
		  [ $c0 + $cycle * 0.20, sub {
				my ($st, $f) = $api->('POST', '/collections/' . coll_of($t_add) . '/fields',
					{ type => 'PlainText', displayName => 'Designer note' });
				$added = $st == 200 ? $f->{id} : undef;
				$note->(action => 'add_field', table => $t_add, field => 'designer-note', status => $st);
			} ],
		  [ $c0 + $cycle * 0.35, sub { $set_required->($t_req, $ALWAYS_FILLED{$t_req}, 1, 'always filled') } ],
		  [ $c0 + $cycle * 0.35 + 4 + rand(4), sub { $set_required->($t_req, $ALWAYS_FILLED{$t_req}, 0, 'always filled') } ],
		  [ $c0 + $cycle * 0.50, sub { $set_required->($t_emp, $SOMETIMES_EMPTY{$t_emp}, 1, 'sometimes empty') } ],
		  [ $c0 + $cycle * 0.50 + 3 + rand(3), sub { $set_required->($t_emp, $SOMETIMES_EMPTY{$t_emp}, 0, 'sometimes empty') } ],
		  [ $c0 + $cycle * 0.65, sub {
				my ($st) = $added ? $api->('DELETE', '/collections/' . coll_of($t_add) . "/fields/$added") : (0);
				$note->(action => 'remove_field', table => $t_add, field => 'designer-note', status => $st);
			} ];
	}
	@schema_plan = sort { $a->[0] <=> $b->[0] } grep { $_->[0] < $o{seconds} - 2 } @schema_plan;

	my $next_item = 2 + rand(1.5);
	my $next_sync = 6 + rand(4);
	my $next_refresh = 4 + rand(4);
	for (my $i = 0; $i < 100_000 && time < $deadline; $i++)
	{
		my $now = time - $t0;
		while (@schema_plan && $schema_plan[0][0] <= $now)
		{
			(shift @schema_plan)->[1]->();
		}
		if ($now >= $next_item)
		{
			$next_item = $now + 0.6 + rand(1.6);
			my $t    = $TABLE_ORDER[ int(rand(@TABLE_ORDER)) ];
			my $coll = coll_of($t);
			my ($st, $page) = $api->('GET', "/collections/$coll/items?limit=100&offset=" . (rand() < 0.3 ? 100 : 0));
			my @items = $st == 200 ? @{ $page->{items} // [] } : ();
			if (@items)
			{
				my $it = $items[ int(rand(@items)) ];
				my @acts = $TABLES{$t}{live}
				  ? qw(edit_field edit_name edit_slug delete unpublish unpublish archive archive)
				  : qw(edit_field edit_name edit_slug delete);
				my $act = $acts[ int(rand(@acts)) ];
				$act = 'edit_name' if $act eq 'edit_field' && !$EDITABLE{$t};
				my $p   = "/collections/$coll/items/$it->{id}" . ($TABLES{$t}{live} ? '/live' : '');
				my $fd  = $it->{fieldData} // {};
				$n++;
				my ($s) =
				    $act eq 'edit_field' ? $api->('PATCH', $p, { fieldData => { $EDITABLE{$t} => "Designer edit $n" } })
				  : $act eq 'edit_name'  ? $api->('PATCH', $p, { fieldData => { name => ($fd->{name} // '') . " (Designer $n)" } })
				  : $act eq 'edit_slug'  ? $api->('PATCH', $p, { fieldData => { slug => "designer-$n" } })
				  : $act eq 'delete'     ? $api->('DELETE', "/collections/$coll/items/$it->{id}")
				  : $act eq 'unpublish'  ? $api->('DELETE', "/collections/$coll/items/$it->{id}/live")
				  :                        $api->('PATCH', $p, { isArchived => JSON::PP::true });
				$note->(action => $act, table => $t, item => $it->{id}, slug => $fd->{slug},
					key => item_key($t, $fd), status => $s);
			}
		}
		if ($now >= $next_sync)
		{
			$next_sync = $now + 7 + rand(6);
			my $t = $TABLE_ORDER[ int(rand(@TABLE_ORDER)) ];
			my ($rc, $out, $err) = $sql->("SELECT webflow.sync('$t')");
			$note->(action => 'sync', table => $t, rc => $rc, queued => $out, error => $err);
		}
		if ($now >= $next_refresh)
		{
			$next_refresh = $now + 5 + rand(5);
			my $t = $TABLE_ORDER[ int(rand(@TABLE_ORDER)) ];
			my ($rc, $out, $err) = $sql->("SELECT webflow.refresh_schema('" . coll_of($t) . "')");
			$note->(action => 'refresh_schema', table => $t, rc => $rc, error => $err);
		}
		sleep(0.1);
	}
	close $log;
}

# start_designer(node, seed, seconds, dir): forks the Designer; returns its pid
sub start_designer
{
	my (%o) = @_;
	return fork_child('designer', sub { designer_main(%o) });
}

# wait_designer(PID, DIR, TIMEOUT): waits for the Designer; returns its
# actions (the decoded JSON lines) and counts by action
sub wait_designer
{
	my ($pid, $dir, $timeout) = @_;
	my $killed = wait_pids([$pid], $timeout);
	my (@actions, %count);
	if (open my $fh, '<', "$dir/designer.jsonl")
	{
		while (<$fh>)
		{
			my $a = eval { $json->decode($_) } or next;
			push @actions, $a;
			my $ok = ($a->{status} // 0) =~ /^2/ || (defined $a->{rc} && $a->{rc} == 0);
			$count{ $a->{action} . ($ok ? '' : ' (refused or failed)') }++;
		}
		close $fh;
	}
	return { actions => \@actions, counts => \%count, killed => $killed };
}

# restore_schema(): every collection back to its fields before the run: the
# fields the Designer added removed, no field but name and slug required
# (whatever the Designer process got to do before it stopped); returns
# the changes made
sub restore_schema
{
	my @done;
	for my $t (@TABLE_ORDER)
	{
		my $coll = coll_of($t);
		my ($st, $c) = fake_api('GET', "/collections/$coll", undef, actor => 'designer');
		die "Get Collection $coll: $st\n" unless $st == 200;
		for my $f (@{ $c->{fields} })
		{
			if ($f->{slug} =~ /^designer-note/)
			{
				my ($s) = fake_api('DELETE', "/collections/$coll/fields/$f->{id}", undef, actor => 'designer');
				push @done, "$t: removed field $f->{slug} ($s)";
			}
			elsif ($f->{isRequired} && $f->{slug} ne 'name' && $f->{slug} ne 'slug')
			{
				my ($s) = fake_api('PATCH', "/collections/$coll/fields/$f->{id}",
					{ isRequired => JSON::PP::false }, actor => 'designer');
				push @done, "$t: field $f->{slug} no longer required ($s)";
			}
		}
	}
	return \@done;
}

# ---------------------------------------------------------------------------
# Faults

# API fault kinds: what the fake does, and whether it processes the request
# (so the change happens although the client sees a failure).  "before" /
# "after" is the phase: the request was not / was carried out.
my $HTML = '<html><head><title>502 Bad Gateway</title></head><body>cloudflare</body></html>';
my %API_FAULTS = (
	refused             => { refuse_ms => 800 },    # set per fault: 300-1500 ms
	timeout_before      => { delay_ms => 3000, drop => JSON::PP::true, process => JSON::PP::false },
	timeout             => { delay_ms => 3000, process => JSON::PP::true },
	drop_before_process => { drop => JSON::PP::true, process => JSON::PP::false },
	drop_after_process  => { drop => JSON::PP::true, process => JSON::PP::true },
	http_500            => { status => 500 },
	http_502            => { status => 502 },
	http_503            => { status => 503 },
	http_5xx_after      => { status => 500, process => JSON::PP::true },    # 500, 502 or 503
	'429_retry_after'   => { status => 429 },
	'429_no_retry_after' => { status => 429 },
	http_401            => { status => 401 },
	malformed_json      => { malformed => JSON::PP::true, process => JSON::PP::true },
	malformed_before    => { malformed => JSON::PP::true, process => JSON::PP::false },
	nonjson_after       => { status => 200, raw => $HTML, process => JSON::PP::true },
	nonjson_before      => { status => 200, raw => $HTML, process => JSON::PP::false },
);
# the kinds the schedule cycles through (the other two are scheduled apart)
my @API_KINDS = sort grep { $_ ne '429_no_retry_after' && $_ ne 'http_401' } keys %API_FAULTS;
my @WORKER_KINDS = qw(sigkill_worker terminate_worker restart_immediate);
# the kinds of request a fault waits for, with weights (how often a fault
# aims at them; each kind of request can get each kind of fault)
my @CLASSES = (
	[ post_live => 3 ], [ patch_live => 2 ], [ delete_live => 1.5 ],
	[ post_staged => 1.5 ], [ patch_staged => 1.5 ], [ delete_staged => 1.5 ],
	[ lookup_slug => 1.5 ], [ list_items => 1 ], [ list_live => 1 ],
	[ get_item => 0.5 ], [ get_collection => 0.75 ], [ publish => 0.75 ]);
my @BUSY_CLASSES = qw(post_live patch_live delete_live delete_staged post_staged);
my $FAULT_TTL_MS = 8000;

# api_fault_processes(NAME): whether a fault of that kind lets the request
# through to the fake's state
sub api_fault_processes
{
	my ($kind) = fault_name_parts($_[0]);
	my $f = $API_FAULTS{$kind} or return 0;
	return $f->{process} ? 1 : 0;
}

# fault_name_parts(NAME): (fault kind, request class) of "kind@class#n"
sub fault_name_parts
{
	my ($name) = @_;
	return ($name // '') =~ /^([^@#]+)(?:@([^#]+))?/ ? ($1, $2 // 'any') : ('?', '?');
}

sub pick_class
{
	my $total = 0;
	$total += $_->[1] for @CLASSES;
	my $r = rand($total);
	for my $c (@CLASSES)
	{
		return $c->[0] if ($r -= $c->[1]) < 0;
	}
	return $CLASSES[-1][0];
}

# fault_plan(SEED, SECONDS): the run's schedule, sorted by time:
#   api: a fault every 0.5-2 s, cycling through every kind in a seeded
#     order, each aimed at a kind of request picked by weight (it lapses if
#     no such request comes within 8 s);
#   one 429 without Retry-After (a 60 s pause) 3 s in, for any request,
#     cleared by the first worker fault, a SIGKILL (the crash restart resets
#     shared memory); in long runs another one, for a random kind of
#     request, every 10 minutes;
#   one 401 at 15% of the run (the extension must resume on its own), in
#     long runs one every 5 minutes;
#   outage: webflow.api_url switched to a closed loopback port (connection
#     refused for real) for 2-4 s at 70% of the run, in long runs every 90 s;
#   worker: every 6-16 s, cycling through SIGKILL, pg_terminate_backend and
#     an immediate stop + start.
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
		push @plan, { at => $t, type => 'api', kind => $api[ $i % @api ], class => pick_class(),
			rand => rand(), n => $i };
		$i++;
		$t += 0.5 + rand(1.5);
	}
	push @plan, { at => 3.0, type => 'api', kind => '429_no_retry_after', class => 'any', rand => rand(), n => 'p0' };
	for (my $at = 600; $at < $seconds - 90; $at += 600)
	{
		push @plan, { at => $at, type => 'api', kind => '429_no_retry_after', class => pick_class(),
			rand => rand(), n => "p$at" };
	}
	for (my $at = $seconds * 0.15 > 6 ? $seconds * 0.15 : 6; $at < $seconds - 20; $at += 300)
	{
		push @plan, { at => $at, type => 'api', kind => 'http_401',
			class => $BUSY_CLASSES[ int(rand(@BUSY_CLASSES)) ], rand => rand(), n => 'a' . int($at) };
	}
	for (my $at = $seconds * 0.7; $at < $seconds - 6; $at += 90)
	{
		my $len = 2 + rand(2);
		push @plan, { at => $at, type => 'outage', kind => 'outage_start', len => $len },
		  { at => $at + $len, type => 'outage', kind => 'outage_end' };
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

# inject_api_fault(PLAN ENTRY): queues one fault at the fake, named
# "kind@class#n"; returns the fault
sub inject_api_fault
{
	my ($p) = @_;
	my ($kind, $class, $r) = @$p{qw(kind class rand)};
	my %f = (%{ $API_FAULTS{$kind} }, name => "$kind\@$class#$p->{n}", count => 1);
	if ($class eq 'any')
	{
		$f{match} = { path => '/collections/[0-9a-f]{24}/items' };
	}
	else
	{
		$f{match} = { kind => $class };
		$f{ttl_ms} = $FAULT_TTL_MS;
	}
	$f{retry_after} = 1 + int($r * 10) % 2 if $kind eq '429_retry_after';
	$f{count} = 1 + int($r * 100) % 3 if $kind eq 'http_500';
	$f{status} = (500, 502, 503)[ int($r * 30) % 3 ] if $kind eq 'http_5xx_after';
	$f{refuse_ms} = 300 + int($r * 1200) if $kind eq 'refused';
	fake_fault(\%f);
	return \%f;
}

# ---------------------------------------------------------------------------
# The request log

# compact_entry(LOG ENTRY): what the post-mortem needs of a request: the
# request line, its kind, status, fault and actor, and per item its id,
# slug, flags and the key its key field carries
sub compact_entry
{
	my ($e) = @_;
	my %c = map { defined $e->{$_} ? ($_ => $e->{$_}) : () }
	  qw(seq time method path query_string status fault kind actor refused response_ids);
	my $table = $e->{path} =~ m{/collections/([0-9a-f]{24})} ? table_of_collection($1) : undef;
	$c{table} = $table if $table;
	my $body = ref $e->{body} eq 'HASH' ? $e->{body} : {};
	my @items = ref $body->{items} eq 'ARRAY' ? @{ $body->{items} } : ($body->{fieldData} ? ($body) : ());
	$c{items} = [ map {
			my $fd = ref $_ eq 'HASH' && ref $_->{fieldData} eq 'HASH' ? $_->{fieldData} : {};
			my %i = (id => (ref $_ eq 'HASH' ? $_->{id} : $_));
			$i{slug} = $fd->{slug} if defined $fd->{slug};
			$i{name} = $fd->{name} if defined $fd->{name};
			my $k = $table ? item_key($table, $fd) : undef;
			$i{key} = $k if defined $k;
			for my $flag (qw(isArchived isDraft))
			{
				$i{$flag} = $_->{$flag} ? 1 : 0 if ref $_ eq 'HASH' && exists $_->{$flag};
			}
			\%i;
		} @items ] if @items;
	$c{itemIds} = $body->{itemIds} if $body->{itemIds};
	return \%c;
}

# collect_log(STATE): reads the fake's request log since STATE->{seq},
# appends it to the file STATE->{file} (JSON lines) if given, and adds it
# up in STATE: requests (the extension's, and the test's own by actor),
# faults hit by name and as a coverage matrix (fault kind x request kind),
# requests by kind, lost-answer creates (a fault that processed the create)
# by table and key, slug conflicts answered to creates; returns the new
# entries (compacted)
sub collect_log
{
	my ($st) = @_;
	my $entries = fake_log($st->{seq} // 0);
	my @compact = map { compact_entry($_) } @$entries;
	if ($st->{file} && @compact)
	{
		open my $fh, '>>', $st->{file} or die "$st->{file}: $!";
		print $fh $json->encode($_), "\n" for @compact;
		close $fh;
	}
	for my $i (0 .. $#$entries)
	{
		my ($e, $c) = ($entries->[$i], $compact[$i]);
		$st->{lost_log_entries} += $e->{seq} - ($st->{seq} // 0) - 1
		  if $e->{seq} > ($st->{seq} // 0) + 1;
		$st->{seq} = $e->{seq};
		if ($e->{actor})
		{
			$st->{actor_requests}{ $e->{actor} }++;
			next;
		}
		$st->{requests}++;
		$st->{by_kind}{ $e->{kind} // '?' }++;
		if ($e->{fault})
		{
			$st->{faults_hit_n}++;
			my ($fk, $fc) = fault_name_parts($e->{fault});
			$st->{faults_hit}{$fk}++;
			$st->{coverage}{$fk}{ $e->{kind} // '?' }++;
			$st->{auth_fault_at} //= iso_epoch($e->{time}) if $fk eq 'http_401';
		}
		elsif (defined $st->{auth_fault_at} && !defined $st->{auth_resumed_after}
			&& ($e->{status} // 0) =~ /^2/ && iso_epoch($e->{time}) > $st->{auth_fault_at})
		{
			# the first request that went through after the 401
			$st->{auth_resumed_after} = iso_epoch($e->{time}) - $st->{auth_fault_at};
		}
		next unless $e->{method} eq 'POST' && ($e->{kind} // '') =~ /^post_/;
		my $maybe = $e->{fault} && api_fault_processes($e->{fault});
		if ($maybe && $c->{table})
		{
			for my $item (@{ $c->{items} // [] })
			{
				$st->{lost_creates}{ $c->{table} }{ $item->{key} }++ if defined $item->{key};
			}
		}
		if (!$e->{fault} && ($e->{status} // 0) == 400)
		{
			$st->{slug_conflicts}{ $c->{table} // '?' }++;
		}
	}
	return \@compact;
}

# ---------------------------------------------------------------------------
# The oracle: what a site visitor sees

# rows_json(NODE, SQL): the rows of a query returning one json object per row
sub rows_json
{
	my ($node, $sql) = @_;
	my $out = $node->safe_psql('postgres', "SELECT coalesce(json_agg(r), '[]') FROM ($sql) r");
	return $json->decode($out);
}

# visible_items(TABLE): what a visitor sees of a table's collection, read
# through the public API, every page: the live items that are neither
# archived nor drafts; for the staged binding (notes) the staged items that
# are not archived
sub visible_items
{
	my ($t) = @_;
	my $items = fake_pages(coll_of($t), live => $TABLES{$t}{live});
	return [ grep { !$_->{isArchived} && (!$TABLES{$t}{live} || !$_->{isDraft}) } @$items ];
}

# site_report(NODE): each table against what a visitor sees.  Per table:
# rows, items, and the differences: missing (a row no visible item carries
# the key of), stale (the row's item shows other values: name, slug, a
# field, or a book's author not the item of its author's row), extra (a
# visible item whose key has no row), duplicate (a second visible item with
# a row's key), each with examples {key, item, what}
sub site_report
{
	my ($node) = @_;
	my (%report, %item_of);
	for my $t (@TABLE_ORDER)    # authors before books (references)
	{
		my $s     = $TABLES{$t};
		my $rows  = rows_json($node, $s->{expect_sql});
		my $items = visible_items($t);
		my %rep   = (rows => scalar @$rows, items => scalar @$items,
			map { $_ => 0 } qw(missing stale extra duplicate));
		my %row_by_key = map { $_->{key} => $_ } @$rows;
		my %by_key;
		for my $it (@$items)
		{
			my $k = item_key($t, $it->{fieldData});
			if (defined $k && $row_by_key{$k})
			{
				push @{ $by_key{$k} }, $it;
			}
			else
			{
				$rep{extra}++;
				push @{ $rep{examples}{extra} }, { key => $k, item => $it->{id},
					what => sprintf('item %s (%s, "%s") shows key %s, which has no row', $it->{id},
						$it->{fieldData}{slug} // '?', $it->{fieldData}{name} // '?', $k // '(none)') };
			}
		}
		for my $r (sort { $a->{key} <=> $b->{key} } @$rows)
		{
			my $want = { name => $r->{name}, slug => $r->{slug}, %{ $r->{f} } };
			for my $f (keys %{ $s->{refs} // {} })
			{
				my $k = $want->{$f};
				$want->{$f} = defined $k ? ($item_of{ $s->{refs}{$f} }{$k} // "(no item of $s->{refs}{$f} $k)") : undef;
			}
			my @cands = @{ $by_key{ $r->{key} } // [] };
			if (!@cands)
			{
				$rep{missing}++;
				push @{ $rep{examples}{missing} }, { key => $r->{key},
					what => sprintf('row %s (%s) has no visible item', $r->{key}, $r->{slug}) };
				next;
			}
			my (@diffs, $best);
			for my $it (@cands)
			{
				my @d;
				for my $f (sort keys %$want)
				{
					my ($w, $g) = ($want->{$f}, $it->{fieldData}{$f});
					push @d, "$f: want " . ($w // 'null') . ', shows ' . ($g // 'null')
					  if (defined $w xor defined $g) || (defined $w && $w ne $g);
				}
				if (!defined $best || @d < @diffs || (@d == @diffs && ($it->{fieldData}{slug} // '') eq $r->{slug}))
				{
					($best, @diffs) = ($it, @d);
				}
			}
			$item_of{$t}{ $r->{key} } = $best->{id};
			if (@diffs)
			{
				$rep{stale}++;
				push @{ $rep{examples}{stale} }, { key => $r->{key}, item => $best->{id},
					what => "row $r->{key} item $best->{id}: " . join('; ', @diffs) };
			}
			for my $it (grep { $_->{id} ne $best->{id} } @cands)
			{
				$rep{duplicate}++;
				push @{ $rep{examples}{duplicate} }, { key => $r->{key}, item => $it->{id},
					what => sprintf('row %s (%s) shows twice: items %s and %s (%s)', $r->{key}, $r->{slug},
						$best->{id}, $it->{id}, $it->{fieldData}{slug} // '?') };
			}
		}
		$report{$t} = \%rep;
	}
	return \%report;
}

# verify_report(NODE): webflow.verify() of every table: {table => {counts
# => {difference => n}, rows => [...], error => text}}
sub verify_report
{
	my ($node) = @_;
	my %out;
	for my $t (@TABLE_ORDER)
	{
		my ($stdout, $stderr) = ('', '');
		my $rc = $node->psql('postgres',
			qq{SELECT coalesce(json_agg(v), '[]') FROM (SELECT difference, row_key, item_id, array_to_string(fields, ',') AS fields
			                                            FROM webflow.verify('$t')) v},
			stdout => \$stdout, stderr => \$stderr);
		if ($rc != 0)
		{
			$out{$t} = { counts => {}, rows => [], error => $stderr };
			next;
		}
		my $rows = $json->decode($stdout);
		my %counts;
		$counts{ $_->{difference} }++ for @$rows;
		$out{$t} = { counts => \%counts, rows => $rows };
	}
	return \%out;
}

# failed_rows(NODE, LEGIT_RE): the outbox rows in state 'failed', per table,
# split into those a healthy API would have accepted and those that failed
# for a reason of the run (LEGIT_RE on last_error: a field the Designer
# made required): {table => {failed => [...], legit => [...]}}
sub failed_rows
{
	my ($node, $legit_re) = @_;
	my $rows = rows_json($node, q{SELECT b.source::text AS t, o.row_key AS key, o.op, o.attempts,
	                                     o.last_status AS status, o.last_error AS error
	                              FROM webflow.outbox o JOIN webflow.bindings b ON b.id = o.binding_id
	                              WHERE o.state = 'failed' ORDER BY o.id});
	my %out = map { $_ => { failed => [], legit => [] } } @TABLE_ORDER;
	for my $r (@$rows)
	{
		my $which = $legit_re && ($r->{error} // '') =~ $legit_re ? 'legit' : 'failed';
		push @{ $out{ $r->{t} }{$which} }, $r;
	}
	return \%out;
}

# timelines(FILE, TARGETS, DESIGNER_ACTIONS): for each target {table, key,
# ids}, the requests of the fake's log (FILE, JSON lines of compact
# entries) and the Designer's actions that concern that row: its key in a
# body, one of its item ids (given, or made by a create of its key) in a
# body or a path, a slug lookup of one of the slugs its requests carried;
# as lines of text, in target order.  Two passes over the file, keeping
# only what matches (the log of a long run is large).
sub timelines
{
	my ($file, $targets, $designer) = @_;
	my @t = map { { %$_, ids => { map { $_ => 1 } grep { defined } @{ $_->{ids} // [] } }, slugs => {}, lines => [] } } @$targets;
	my %by_table;
	push @{ $by_table{ $_->{table} } }, $_ for @t;
	my $mine = sub {
		my ($x, $i) = @_;
		return (defined $i->{key} && $i->{key} eq $x->{key}) || (defined $i->{id} && $x->{ids}{ $i->{id} });
	};
	for my $pass (1, 2)
	{
		open my $fh, '<', $file or return [ map { ["(no request log: $file)"] } @t ];
		while (my $line = <$fh>)
		{
			next unless $line =~ /"table":"(\w+)"/ && $by_table{$1};
			my $e = eval { $json->decode($line) } or next;
			for my $x (@{ $by_table{ $e->{table} } })
			{
				my @items = @{ $e->{items} // [] };
				my @m = grep { $mine->($x, $_) } @items;
				if ($pass == 1)
				{
					next unless @m;
					$x->{slugs}{ $_->{slug} } = 1 for grep { defined $_->{slug} } @m;
					for my $j (0 .. $#items)
					{
						my $rid = ($e->{response_ids} // [])->[$j];
						$x->{ids}{$rid} = 1
						  if defined $rid && defined $items[$j]{key} && $items[$j]{key} eq $x->{key};
					}
					next;
				}
				my $hit = @m || grep { $x->{ids}{$_} } @{ $e->{itemIds} // [] };
				$hit ||= ($e->{path} // '') =~ m{/items/([0-9a-f]{24})} && $x->{ids}{$1};
				$hit ||= ($e->{query_string} // '') =~ /(?:^|&)slug=([^&]+)/ && $x->{slugs}{ uri_unescape($1) };
				next unless $hit;
				my $items = join(' ', map {
						my $i = $_;
						join('/', map { defined $i->{$_} ? "$_=$i->{$_}" : () } qw(id key slug isArchived isDraft))
				} @m);
				$items .= ' +' . (@items - @m) . ' other items' if @items > @m;
				push @{ $x->{lines} }, sprintf('#%s %s %s%s %s%s -> %s%s%s%s%s', $e->{seq}, substr($e->{time} // '', 11, 12),
					$e->{actor} ? "[$e->{actor}] " : '', $e->{kind} // '?', $e->{method},
					($e->{path} =~ m{/items(/.*)?$} ? ' items' . ($1 // '') : '') . (length($e->{query_string} // '') ? "?$e->{query_string}" : ''),
					$e->{status} // 'no answer', $e->{fault} ? " FAULT $e->{fault}" : '',
					$e->{refused} ? " ($e->{refused})" : '',
					$items ? " [$items]" : '',
					$e->{response_ids} ? ' made ' . join(',', grep { defined && $x->{ids}{$_} } @{ $e->{response_ids} }) : '');
			}
		}
		close $fh;
	}
	for my $x (@t)
	{
		for my $a (@{ $designer // [] })
		{
			next unless ($a->{table} // '') eq $x->{table}
			  && ((defined $a->{key} && $a->{key} eq $x->{key}) || ($a->{item} && $x->{ids}{ $a->{item} }));
			push @{ $x->{lines} }, sprintf('  Designer at +%ss: %s item %s (slug %s) -> %s', $a->{t}, $a->{action},
				$a->{item} // '?', $a->{slug} // '?', $a->{status} // '?');
		}
	}
	return [ map { $_->{lines} } @t ];
}

sub uri_unescape
{
	my ($s) = @_;
	$s =~ s/\+/ /g;
	$s =~ s/%([0-9A-Fa-f]{2})/chr(hex($1))/eg;
	return $s;
}

# format_counts(HASH): "a 1, b 2" sorted by key
sub format_counts
{
	my ($h) = @_;
	return join(', ', map { "$_ $h->{$_}" } sort keys %{ $h // {} }) || 'none';
}

1;
