# t/050_chaos.pl: a seeded random workload under a fault schedule; afterwards
# Webflow holds exactly the tables' rows, once each.
#
# Proves: while several concurrent sessions insert, update (renames that
# change slugs, explicit slugs, references moved between authors), delete,
# re-key and roll back rows of two bound tables (books references authors),
# and while the local Webflow answers 500s, 503s, 429s with and without
# Retry-After, responses slower than webflow.timeout after doing the work,
# connections dropped before and after doing the work and malformed JSON,
# and the worker is SIGKILLed (crash restart of the cluster), terminated
# with pg_terminate_backend and the server stopped -m immediate and started
# again: once the faults stop and the outbox drains, for each collection
# the items at the fake are exactly the table's rows (same keys through
# webflow.items, same field values, every book's Reference pointing at its
# author's item), every one live, no item made twice (no item left over
# that no row owns, no two rows on one item, no slug twice),
# webflow.status shows nothing pending, sending or failed, and no server
# process died of anything but the test's own SIGKILLs.  (Rows still
# backing off 10 s after the faults stop are made due at once rather than
# waited for; failed rows are left as they are.)  Also checks the run did
# what it claims: changes committed, rollbacks, faults hit, each kind of
# worker fault done and the worker back under a new pid.
#
# Known bugs make the invariant checks TODO until they are fixed (list them
# in $KNOWN_BUGS); CHAOS_STRICT=1 (scripts/chaos sets it) makes them count
# anyway.  None is open.  Found by this test and fixed: chaos-1 resolve by
# the newest slug only; chaos-1b the slugs of an earlier create forgotten
# when the change was retried or deferred before it was resolved; chaos-2
# failed for good on a re-key; chaos-2b an item adopted from a key whose
# delete was still to come; chaos-3 use after free of the pass's error text
# (SIGSEGV); chaos-4 a lost slug-changing update refused on retry; chaos-5 a
# create refused for a taken slug failed for good when the lookup failed;
# chaos-6 libcurl's silent resend on a new connection not counted as "maybe
# sent"; chaos-7 a pass started before the previous one's results were
# committed; chaos-8 a state whose reference was gone since skipped as a
# slug to look for (and a delete of it taken as done); chaos-9 an item found
# by the lookup forgotten when the update after it failed.
#
# CHAOS_SEED replays a run (the seed is printed first); CHAOS_SECONDS sets
# the length of the workload-and-faults phase (default 60: the whole test
# takes about 90 s); CHAOS_SESSIONS the number of sessions (default 4).
# scripts/chaos runs it for longer.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use FindBin;
use lib $FindBin::RealBin;
use WebflowTest;
use ChaosWorkload;

my $KNOWN_BUGS = '';
my $seed     = $ENV{CHAOS_SEED} // (time() ^ $$) % 1_000_000;
my $seconds  = $ENV{CHAOS_SECONDS} // 60;
my $nsession = $ENV{CHAOS_SESSIONS} // 4;
diag("chaos: seed $seed, $seconds s, $nsession sessions (replay with CHAOS_SEED=$seed)");

start_fake();
fake_reset();
my $node = new_node('chaos',
	'webflow.timeout'   => "'2000ms'",
	'webflow.naptime'   => "'1s'",
	'max_connections'   => 50,
	'log_min_messages'  => 'warning',
	# every statement in the log, unless the run is long
	'log_statement'     => $seconds > 300 ? 'none' : 'all');
create_tables($node);

# the items that were there before: the fixture's
my %fixture;
for my $coll ($AUTHORS, $BOOKS)
{
	$fixture{$coll}{ $_->{id} } = 1 for @{ fake_items($coll) };
}

# ---- the workload and the faults
my $dir      = PostgreSQL::Test::Utils::tempdir();
my $plan     = fault_plan($seed, $seconds);
# every request the fake saw, for the post-mortem of a failure
my %logstate = (seq => fake_log_seq(),
	file => "${PostgreSQL::Test::Utils::log_path}/050_chaos_fake_requests.jsonl");
unlink $logstate{file};
my (%injected, %restarts, @worker_pids);
my $skipped_faults = 0;

# wait_up(): the server accepts queries again (bounded)
sub wait_up
{
	return wait_until(sub { $node->psql('postgres', 'SELECT 1') == 0 }, 60, 0.2);
}

# do_worker_fault(KIND): one fault of the worker or the server
sub do_worker_fault
{
	my ($kind) = @_;
	my $pid = worker_pid($node);
	push @worker_pids, $pid if $pid;
	if ($kind eq 'restart_immediate')
	{
		$node->stop('immediate');
		$node->start(fail_ok => 1) or wait_until(sub { $node->start(fail_ok => 1) }, 30, 1);
	}
	elsif (!$pid)
	{
		$skipped_faults++;
		return;
	}
	elsif ($kind eq 'sigkill_worker')
	{
		kill 'KILL', $pid;
		# the postmaster restarts every process after a crash
		wait_until(sub { $node->psql('postgres', 'SELECT 1') != 0 }, 5, 0.05);
	}
	else
	{
		$node->psql('postgres', "SELECT pg_terminate_backend($pid)");
	}
	$restarts{$kind}++;
	wait_up() or diag("the server did not come back after $kind");
	my $new = '';
	wait_until(sub { ($new = worker_pid($node)) ne '' }, 10, 0.1);
	push @worker_pids, $new if $new;
}

my $t0       = time;
my $sessions = start_sessions(
	node => $node, seed => $seed, sessions => $nsession,
	seconds => $seconds, dir => $dir);
my $last_collect = time;
while (time - $t0 < $seconds)
{
	while (@$plan && $plan->[0]{at} <= time - $t0)
	{
		my $f = shift @$plan;
		if ($f->{type} eq 'worker')
		{
			do_worker_fault($f->{kind});
		}
		elsif (@{ fake_admin('GET', '/faults') } >= 3)
		{
			$skipped_faults++;    # the worker is not sending: do not pile up
		}
		else
		{
			inject_api_fault($f->{kind}, $f->{rand});
			$injected{ $f->{kind} }++;
		}
	}
	if (time - $last_collect > 2)
	{
		collect_log(\%logstate);
		$last_collect = time;
	}
	sleep(0.1);
}
my $totals = wait_sessions($sessions, 90);
my $phase  = time - $t0;
fake_clear_faults();
ok(wait_up(), 'the server is up after the chaos phase');
collect_log(\%logstate);

# ---- drain: the queue empties once the faults stop (bounded)
ok(wait_until(sub { worker_pid($node) ne '' }, 30, 0.2), 'the worker runs after the chaos phase');
my $drain_t0 = time;
my $nudged   = 0;
my $nudge_done = 0;
my $drained  = wait_until(sub {
		my $left = $node->safe_psql('postgres',
			q{SELECT count(*) FILTER (WHERE state <> 'failed') FROM webflow.outbox});
		# rows backing off after the faults: send them now rather than
		# wait out an exponential backoff (failed rows are left alone)
		if ($left > 0 && time - $drain_t0 > 10 && !$nudge_done)
		{
			$nudge_done = 1;
			$nudged = $node->safe_psql('postgres', q{
WITH u AS (UPDATE webflow.outbox SET next_attempt_at = now()
           WHERE state = 'pending' AND next_attempt_at > now() RETURNING 1)
SELECT count(*) FROM u, LATERAL (SELECT webflow.wake()) w});
		}
		return $left == 0;
	},
	$seconds > 300 ? 300 : 90, 0.25);
my $drain_s = time - $drain_t0;
ok($drained, sprintf('the outbox drained %.1f s after the faults stopped', $drain_s));
sleep(1.5);    # a pass may still be recording
collect_log(\%logstate);

# ---- the invariant
my $status = $node->safe_psql('postgres',
	q{SELECT string_agg(source || ' ' || pending || '/' || sending || '/' || failed, ', ' ORDER BY source::text)
      FROM webflow.status});
my $left_rows = $node->safe_psql('postgres',
	q{SELECT string_agg(b.source || ' key ' || o.row_key || ' ' || o.op || ' ' || o.state || ': '
                        || coalesce(o.last_error, '?'), E'\n')
      FROM webflow.outbox o JOIN webflow.bindings b ON b.id = o.binding_id});
diag("outbox rows left:\n$left_rows") if $left_rows ne '';
my $report = check_invariant($node, \%fixture);
for my $name (qw(authors books))
{
	for my $kind (qw(lost orphans shared mismatched not_live stale_map))
	{
		my @ex = @{ $report->{$name}{examples}{$kind} // [] };
		diag("$name $kind: " . join("\n  ", @ex[ 0 .. ($#ex > 9 ? 9 : $#ex) ])) if @ex;
	}
}

# a server process that dies of anything but the test's own SIGKILLs crashed
my @crashes = slurp_file($node->logfile)
  =~ /((?:background worker "[^"]*"|server process) \(PID \d+\) was terminated by signal (?!9:)\d+: [^\n]*)/g;
diag("crashes:\n" . join("\n", @crashes)) if @crashes;

TODO:
{
	local $TODO = $ENV{CHAOS_STRICT} ? undef : $KNOWN_BUGS || undef;
	is(scalar(@crashes), 0, 'no server process crashed (other than by the SIGKILLs of the test)');
	is($status, 'authors 0/0/0, books 0/0/0',
		'webflow.status: nothing pending, sending or failed for either table');
	for my $name (qw(authors books))
	{
		my $r = $report->{$name};
		is($r->{lost}, 0, "$name: no row lost (every row maps to an item the fake has)");
		is($r->{orphans}, 0, "$name: no item at the fake that no row owns (nothing created twice or left behind)");
		is($r->{shared}, 0, "$name: no two rows share one item");
		is($r->{mismatched}, 0, "$name: every item carries its row's values"
			  . ($name eq 'books' ? ' and the item id of its author' : ''));
		is($r->{not_live}, 0, "$name: every item is live");
		is($r->{stale_map}, 0, "$name: webflow.items maps no key that has no row");
		is($r->{duplicate_slugs}, 0, "$name: no slug twice at the fake");
		is($r->{items}, $r->{rows}, "$name: as many items as rows ($r->{rows})");
	}
}

# slugs created (2xx) more than once: legitimate when the first item was
# deleted in between (re-keyed rows, reused names); the fake refuses a
# second item with a slug, so what counts as a duplicate is an orphan
my $dup_creates = 0;
for my $coll (keys %{ $logstate{creates} // {} })
{
	for my $slug (keys %{ $logstate{creates}{$coll} })
	{
		$dup_creates++ if ($logstate{creates}{$coll}{$slug}{clean} // 0) > 1;
	}
}

# ---- the workload really ran into the faults
my $hit = 0;
$hit += $_ for values %{ $logstate{faults_hit} // {} };
cmp_ok($totals->{statements_committed} // 0, '>', 50, 'the sessions committed changes');
cmp_ok($totals->{tx_rollback} // 0, '>', 0, 'some transactions were rolled back on purpose');
cmp_ok($hit, '>', 0, 'the fake answered requests with injected faults');
is(scalar(grep { ($restarts{$_} // 0) > 0 } qw(sigkill_worker terminate_worker restart_immediate)),
	$seconds >= 45 ? 3 : scalar(keys %restarts),
	'the worker was SIGKILLed, terminated and the server stopped -m immediate');
my %distinct_pids = map { $_ => 1 } @worker_pids;
cmp_ok(scalar(keys %distinct_pids), '>', 1, 'the worker came back under new pids after its faults')
  if keys %restarts;

# ---- figures
my %ops = map { /^op_(.*)/ ? ($1 => $totals->{$_}) : () } keys %$totals;
my %txs = map { /^tx_(.*)/ ? ($1 => $totals->{$_}) : () } keys %$totals;
my $rows  = $report->{authors}{rows} + $report->{books}{rows};
my $items = $report->{authors}{items} + $report->{books}{items};
my $lost  = $report->{authors}{lost} + $report->{books}{lost};
my $dups  = $report->{authors}{orphans} + $report->{books}{orphans}
  + $report->{authors}{shared} + $report->{books}{shared};
diag(join("\n",
	"chaos figures (seed $seed, phase " . sprintf('%.0f', $phase) . " s, $nsession sessions):",
	"  transactions: " . ($totals->{transactions} // 0) . ' (' . format_counts(\%txs) . ')',
	"  operations committed: " . ($totals->{statements_committed} // 0) . ' (' . format_counts(\%ops) . ')',
	"  API faults injected: " . format_counts(\%injected) . "; skipped (queue full or no worker): $skipped_faults",
	"  API faults hit: $hit (" . format_counts($logstate{faults_hit}) . ')',
	"  worker/server faults: " . format_counts(\%restarts),
	"  requests to the fake: " . ($logstate{requests} // 0) . ' (' . format_counts($logstate{by_method}) . ')'
	  . (($logstate{lost_log_entries} // 0) ? ", $logstate{lost_log_entries} not seen in the log" : ''),
	"  slug conflicts answered to creates: " . (format_counts($logstate{slug_conflicts})),
	"  drain after the faults: " . sprintf('%.1f s', $drain_s) . ", rows nudged past their backoff: " . ($nudged + 0),
	"  rows: $rows (authors $report->{authors}{rows}, books $report->{books}{rows}); items: $items",
	"  lost: $lost; duplicated: $dups; slugs created more than once (re-keys, reused names): $dup_creates; crashes: " . scalar(@crashes),
	($totals->{last_error_other} ? "  an unexpected session error: $totals->{last_error_other}" : ())));
diag("replay with CHAOS_SEED=$seed CHAOS_SECONDS=$seconds") unless Test::More->builder->is_passing;

$node->stop;
done_testing();
