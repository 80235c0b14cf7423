# t/087_open_transaction_attack.pl: a role allowed to publish its own
# tables against the two guarantees of the open-transaction fix (c33b702).
#
#   1. Nothing stuck: whatever mallory does in a transaction she keeps open
#      (DDL, DROP, TRUNCATE, unbind(), bind(), writes to her bound table,
#      her drain() cut short), alice's next row reaches the live site
#      within a few seconds: the worker never waits for her transaction.
#   2. No older image wins: once things settle, each of mallory's rows
#      shows its latest committed state on the live site.
#
# t/081 attempts 9-9e tried an open retry(), bind() and sync(); this file
# tries the routes they left: her rows in flight when an open transaction
# drops her table (the event trigger deletes outbox rows) or unbinds it,
# a TRUNCATE kept open, an open bind() that caches her collection's schema
# while the worker has to fetch it, uncommitted outbox rows of hers while
# the worker claims, sync() followed by a key change, and a drain() cut
# short by statement_timeout while its request is in flight, a TRUNCATE
# under REPEATABLE READ, and her own AFTER trigger that writes the row
# again before the publish trigger fires.
#
# Every verdict comes from what a visitor sees (every page of live items,
# through the public API) and from how long alice's row takes to appear
# there, never from the fake's internal state.  One ok() per attempt; the
# end says "open-transaction-attack: N attempts, M breaks".
use strict;
use warnings;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use FindBin;
use lib $FindBin::RealBin;
use WebflowTest;

my $t_start = time;
start_fake();
my $node = new_node('opentx', 'webflow.naptime' => "'1s'");
my $fixdir = PostgreSQL::Test::Utils::tempdir();

# ---------------------------------------------------------------------
# sessions
# ---------------------------------------------------------------------
sub fill
{
	my ($s) = @_;
	$s =~ s/__JOBS__/$JOBS/g;
	$s =~ s/__TAGS__/$TAGS/g;
	return $s;
}

# admin_q(SQL): as the superuser (search_path pg_catalog); '' on error
sub admin_q
{
	my ($sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', "SET search_path = pg_catalog;\n" . fill($sql),
		timeout => 60);
	return $ret == 0 ? ($out // '') : '';
}

# run_as(USER, SQL): one psql session, errors do not stop it; (ret, out, err)
sub run_as
{
	my ($user, $sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', fill($sql),
		extra_params => [ '-U', $user ], on_error_stop => 0, timeout => 60);
	return ($ret, $out // '', $err // '');
}
sub mallory { return run_as('mallory', @_); }
sub alice   { return run_as('alice', @_); }

my $bg_n = 0;

# bg(USER, SQL): a psql session in the background; bg_finish returns (out, err)
sub bg
{
	my ($user, $sql) = @_;
	my ($out, $err) = ('', '');
	my $file = "$fixdir/bg_" . ++$bg_n . '.sql';
	open(my $sf, '>', $file) or die "$file: $!";
	print $sf fill($sql);
	close $sf;
	my $h = IPC::Run::start(
		[ 'psql', '-X', '-A', '-t', '-q', '-d', $node->connstr('postgres'), '-U', $user, '-f', $file ],
		'<', \undef, '>', \$out, '2>', \$err, IPC::Run::timeout(60));
	return { h => $h, out => \$out, err => \$err };
}

sub bg_finish
{
	my ($b) = @_;
	eval { $b->{h}->finish; 1 } or eval { $b->{h}->kill_kill };
	return (${ $b->{out} }, ${ $b->{err} });
}

# mallory_sleeps: her background session sleeps inside its transaction
sub mallory_sleeps
{
	return wait_until(sub { admin_q(q{SELECT count(*) FROM pg_stat_activity WHERE usename = 'mallory'
                                      AND wait_event = 'PgSleep'}) eq '1' }, 10, 0.05);
}

# in_flight: one of her rows is being sent (the worker claimed it)
sub in_flight
{
	return wait_until(sub { admin_q(q{SELECT count(*) FROM webflow.outbox WHERE state = 'sending'}) ne '0' },
		10, 0.05);
}

# wait_settled: the worker has handled every due change
sub wait_settled
{
	my ($t) = @_;
	return wait_until(
		sub {
			admin_q(q{SELECT count(*) FROM webflow.outbox
                      WHERE state = 'sending' OR (state = 'pending' AND next_attempt_at <= now())})
			  eq '0';
		},
		$t // 20, 0.2);
}

# live_names(COLL, RE): the names of the live items matching RE, sorted
sub live_names
{
	my ($coll, $re) = @_;
	return sort map { $_->{fieldData}{name} } grep { ($_->{fieldData}{name} // '') =~ $re }
	  @{ fake_pages($coll) };
}

# worker_wait: what the worker waits for now
sub worker_wait
{
	return admin_q(q{SELECT coalesce(wait_event_type || ':' || wait_event, 'running')
                     FROM pg_stat_activity WHERE backend_type = 'webflow worker'});
}

# alice_quick(NAME, SECONDS): alice inserts a row; it is live within SECONDS
my $alice_n = 0;
sub alice_quick
{
	my ($secs) = @_;
	my $name = 'Alice Job Quick ' . ++$alice_n;
	my $t0 = time;
	alice(qq{INSERT INTO alice.jobs VALUES ('q$alice_n', '$name');});
	my $ok = wait_until(sub { grep { $_ eq $name } live_names($JOBS, qr/Alice/) }, $secs, 0.2);
	return $ok ? () : (sprintf("alice's row was not live within %d s (worker: %s)", $secs, worker_wait()));
}

# reset_world: mallory's tables gone, no binding, item map or queued change
# of hers; alice's table bound and published; the fake back to its fixture
sub reset_world
{
	wait_settled(10);
	fake_clear_faults();
	admin_q(q{
DROP SCHEMA IF EXISTS mallory CASCADE;
DROP TABLE IF EXISTS alice.jobs;
DELETE FROM webflow.outbox;
DELETE FROM webflow.bindings;
DELETE FROM webflow.items;
DELETE FROM webflow.collection_owners;
DELETE FROM webflow.collection_fields;
CREATE SCHEMA mallory AUTHORIZATION mallory;
GRANT USAGE ON SCHEMA mallory TO PUBLIC;
});
	fake_reset();
	my ($r, $o, $e) = alice(q{
CREATE TABLE alice.jobs (id text PRIMARY KEY, name text NOT NULL);
SELECT webflow.bind('alice.jobs', '__JOBS__');
INSERT INTO alice.jobs VALUES ('1', 'Alice Job One');
});
	die "alice could not bind: $e" if $e =~ /ERROR/;
	wait_until(sub { grep { $_ eq 'Alice Job One' } live_names($JOBS, qr/Alice/) }, 20, 0.2)
	  or die 'alice\'s first row was not published';
	wait_settled(10);
}

# tag_table(NAME, FIRST): her table bound to Tags, its first row live
sub tag_table
{
	my ($t, $first) = @_;
	mallory(qq{
CREATE TABLE $t (id int PRIMARY KEY, name text NOT NULL);
SELECT webflow.bind('$t', '__TAGS__');
INSERT INTO $t VALUES (1, '$first');
});
	my $ok = wait_until(sub { grep { $_ eq $first } live_names($TAGS, qr/./) }, 20, 0.2);
	wait_settled(20);
	return $ok;
}

# slow(METHOD): her next request of that method to Tags takes 3 s
sub slow
{
	my ($method) = @_;
	fake_fault({ delay_ms => 3000, count => 1, match => { method => $method, path => "^/v2/collections/$TAGS/items" } });
}

# ---------------------------------------------------------------------
# the cast
# ---------------------------------------------------------------------
admin_q(q{
CREATE ROLE mallory LOGIN;
CREATE ROLE alice LOGIN;
GRANT EXECUTE ON FUNCTION webflow.bind(regclass, text, jsonb), webflow.unbind(regclass, text),
    webflow.sync(regclass), webflow.verify(regclass), webflow.retry(boolean), webflow.drain(integer)
    TO mallory, alice;
CREATE SCHEMA alice AUTHORIZATION alice;
GRANT USAGE ON SCHEMA alice TO PUBLIC;
});

my ($n_attempts, $n_breaks) = (0, 0);

# attempt(NAME, CODE): CODE runs the route and returns the problems seen
sub attempt
{
	my ($name, $code) = @_;
	$n_attempts++;
	my $t0 = time;
	my @problems;
	eval { reset_world(); push @problems, $code->(); 1 } or push @problems, "the attempt died: $@";
	$n_breaks++ if @problems;
	ok(!@problems, "open-tx: $name") or diag(join("\n", map { "  BREAK: $_" } @problems));
	note(sprintf('%s: %.1f s', $name, time - $t0));
}

# ---------------------------------------------------------------------
# 1. DROP TABLE of her bound table, kept open, while her row is in flight:
#    the event trigger deletes outbox rows the worker must record
# ---------------------------------------------------------------------
attempt('open DROP TABLE while her row is in flight', sub {
	my @p;
	tag_table('mallory.m1', 'Drop Tag') or push @p, 'setup: her row was not published';
	slow('PATCH');
	mallory(q{UPDATE mallory.m1 SET name = 'Drop Tag Two' WHERE id = 1;});
	in_flight() or push @p, 'setup: her change was not claimed';
	my $locker = bg('mallory', q{BEGIN; DROP TABLE mallory.m1; SELECT pg_sleep(10); COMMIT;});
	mallory_sleeps();
	push @p, alice_quick(6);
	bg_finish($locker);
	wait_settled(20);
	push @p, alice_quick(6);
	return @p;
});

# 2. unbind() kept open while her row is in flight
attempt('open unbind() while her row is in flight', sub {
	my @p;
	tag_table('mallory.m2', 'Unbind Tag') or push @p, 'setup: her row was not published';
	slow('PATCH');
	mallory(q{UPDATE mallory.m2 SET name = 'Unbind Tag Two' WHERE id = 1;});
	in_flight() or push @p, 'setup: her change was not claimed';
	my $locker = bg('mallory', q{BEGIN; SELECT webflow.unbind('mallory.m2'); SELECT pg_sleep(8); COMMIT;});
	mallory_sleeps();
	push @p, alice_quick(6);
	bg_finish($locker);
	wait_settled(20);
	my @live = live_names($TAGS, qr/Unbind/);
	push @p, "her row shows as [@live] on the live site, not [Unbind Tag Two]" unless "@live" eq 'Unbind Tag Two';
	return @p;
});

# 3. TRUNCATE kept open while her row is in flight; then committed
attempt('open TRUNCATE while her row is in flight', sub {
	my @p;
	tag_table('mallory.m3', 'Trunc Tag') or push @p, 'setup: her row was not published';
	slow('PATCH');
	mallory(q{UPDATE mallory.m3 SET name = 'Trunc Tag Two' WHERE id = 1;});
	in_flight() or push @p, 'setup: her change was not claimed';
	my $locker = bg('mallory', q{BEGIN; TRUNCATE mallory.m3; SELECT pg_sleep(8); COMMIT;});
	mallory_sleeps();
	push @p, alice_quick(6);
	bg_finish($locker);
	sleep 1;
	wait_settled(20);
	my @live = live_names($TAGS, qr/Trunc/);
	push @p, "her truncated table still shows [@live] on the live site" if @live;
	return @p;
});

# 4. her open bind() of a second table caches her collection's schema
#    (uncommitted) while the worker, which found it not cached, fetches
#    it for her first table's row and stores it
attempt('open bind() caching the schema the worker must store', sub {
	my @p;
	# (her first bind() could not read the collection: Webflow was down)
	fake_fault({ status => 500, count => 1000, match => { method => 'GET', path => "^/v2/collections/$TAGS\$" } });
	my ($r, $o, $e) = mallory(q{
CREATE TABLE mallory.m4 (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE mallory.m4b (id int PRIMARY KEY, name text NOT NULL);
SELECT webflow.bind('mallory.m4', '__TAGS__');
});
	push @p, "setup: her bind() failed: $e" if $e =~ /ERROR/;
	fake_clear_faults();
	my $locker = bg('mallory', q{BEGIN; SELECT webflow.bind('mallory.m4b', '__TAGS__'); SELECT pg_sleep(10); COMMIT;});
	mallory_sleeps();
	mallory(q{INSERT INTO mallory.m4 VALUES (1, 'Schema Tag');});
	sleep 1.5;
	push @p, alice_quick(6);
	bg_finish($locker);
	mallory(q{SELECT webflow.retry(false);});
	sleep 1;
	wait_settled(30);
	my @live = live_names($TAGS, qr/Schema/);
	push @p, "her row shows as [@live] on the live site, not [Schema Tag]" unless "@live" eq 'Schema Tag';
	return @p;
});

# 8. ALTER TABLE (an ACCESS EXCLUSIVE lock on her table) kept open while
#    her row is in flight, then a change of the new column
attempt('open ALTER TABLE while her row is in flight', sub {
	my @p;
	tag_table('mallory.m8', 'Alter Tag') or push @p, 'setup: her row was not published';
	slow('PATCH');
	mallory(q{UPDATE mallory.m8 SET name = 'Alter Tag Two' WHERE id = 1;});
	in_flight() or push @p, 'setup: her change was not claimed';
	my $locker = bg('mallory', q{BEGIN; LOCK TABLE mallory.m8 IN ACCESS EXCLUSIVE MODE;
ALTER TABLE mallory.m8 ADD CONSTRAINT m8_id CHECK (id > 0); SELECT pg_sleep(8);
UPDATE mallory.m8 SET name = 'Alter Tag Three' WHERE id = 1; COMMIT;});
	mallory_sleeps();
	push @p, alice_quick(6);
	bg_finish($locker);
	sleep 1;
	wait_settled(20);
	my @live = live_names($TAGS, qr/Alter/);
	push @p, "her row shows as [@live] on the live site, not [Alter Tag Three]" unless "@live" eq 'Alter Tag Three';
	return @p;
});

# 5. her open transaction has written her bound table (uncommitted outbox
#    rows, some of a key the worker is sending) while the worker claims
attempt('open writes to her bound table while her row is in flight', sub {
	my @p;
	tag_table('mallory.m5', 'Open Tag') or push @p, 'setup: her row was not published';
	mallory(q{INSERT INTO mallory.m5 VALUES (2, 'Other Tag');});
	wait_settled(20);
	slow('PATCH');
	mallory(q{UPDATE mallory.m5 SET name = 'Open Tag Two' WHERE id = 1;});
	in_flight() or push @p, 'setup: her change was not claimed';
	my $locker = bg('mallory', q{BEGIN; UPDATE mallory.m5 SET name = 'Open Tag Three' WHERE id = 1;
UPDATE mallory.m5 SET name = 'Other Tag Two' WHERE id = 2; SELECT pg_sleep(8); COMMIT;});
	mallory_sleeps();
	push @p, alice_quick(6);
	bg_finish($locker);
	sleep 1;
	wait_settled(20);
	my @live = live_names($TAGS, qr/Tag/);
	push @p, "her rows show as [@live] on the live site, not [Open Tag Three Other Tag Two]"
	  unless "@live" eq 'Open Tag Three Other Tag Two';
	return @p;
});

# 6. sync() repairing her row, then a key change, in one transaction
attempt('sync() then a key change in one transaction', sub {
	my @p;
	tag_table('mallory.m6', 'Key Tag') or push @p, 'setup: her row was not published';
	my ($it) = grep { ($_->{fieldData}{name} // '') eq 'Key Tag' } @{ fake_pages($TAGS) };
	my ($st) = fake_api('PATCH', "/collections/$TAGS/items/$it->{id}/live",
		{ fieldData => { name => 'Designer Tag' } }, actor => 'designer');
	push @p, "setup: the Designer's rename got $st" unless $st == 200;
	my ($r, $o, $e) = mallory(q{BEGIN; SELECT webflow.sync('mallory.m6');
UPDATE mallory.m6 SET id = 2 WHERE id = 1; COMMIT;});
	push @p, "her sync() failed: $e" if $e =~ /ERROR/;
	sleep 1;
	wait_settled(20);
	my @live = live_names($TAGS, qr/Tag/);
	push @p, "her row shows as [@live] on the live site, not [Key Tag]" unless "@live" eq 'Key Tag';
	return @p;
});

# 7. her drain() cut short by statement_timeout while its request is in
#    flight, then her change again
attempt('drain() cut short by statement_timeout mid-request', sub {
	my @p;
	tag_table('mallory.m7', 'Drain Tag') or push @p, 'setup: her row was not published';
	slow('PATCH');
	my ($r, $o, $e) = mallory(q{
BEGIN;
UPDATE mallory.m7 SET name = 'Drain Tag Two' WHERE id = 1;
COMMIT;
SET statement_timeout = '500ms';
SELECT webflow.drain();
RESET statement_timeout;
UPDATE mallory.m7 SET name = 'Drain Tag Three' WHERE id = 1;
});
	push @p, alice_quick(6);
	sleep 1;
	wait_settled(20);
	my @live = live_names($TAGS, qr/Drain/);
	push @p, "her row shows as [@live] on the live site, not [Drain Tag Three]" unless "@live" eq 'Drain Tag Three';
	return @p;
});

# 9. TRUNCATE in a REPEATABLE READ transaction whose snapshot is older
#    than a row another session of hers added (and the worker published)
attempt('TRUNCATE under REPEATABLE READ after a row published since the snapshot', sub {
	my @p;
	tag_table('mallory.m9', 'Snap Tag') or push @p, 'setup: her row was not published';
	my $locker = bg('mallory', q{BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM mallory.m9;
SELECT pg_sleep(5); TRUNCATE mallory.m9; COMMIT;});
	mallory_sleeps();
	mallory(q{INSERT INTO mallory.m9 VALUES (2, 'Late Tag');});
	wait_until(sub { grep { $_ eq 'Late Tag' } live_names($TAGS, qr/Late/) }, 4, 0.2)
	  or push @p, 'setup: her late row was not published';
	bg_finish($locker);
	sleep 1;
	wait_settled(20);
	my @live = live_names($TAGS, qr/Snap|Late/);
	my @rows = sort split /\n/, admin_q(q{SELECT name FROM mallory.m9});
	push @p, "her table holds [@rows] but the live site shows [@live]" unless "@live" eq "@rows";
	return @p;
});

# 10. her own AFTER trigger, which fires before the publish trigger (its
#     name sorts first), writes the row again: the publish trigger of that
#     nested write queues the newer image before the outer one queues the
#     older
attempt('her own AFTER trigger that writes the row again fires first', sub {
	my @p;
	my ($r, $o, $e) = mallory(q{
CREATE TABLE mallory.m10 (id int PRIMARY KEY, name text NOT NULL);
SELECT webflow.bind('mallory.m10', '__TAGS__');
CREATE FUNCTION mallory.bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.name NOT LIKE '%!' THEN
        UPDATE mallory.m10 SET name = NEW.name || '!' WHERE id = NEW.id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER a_bump AFTER INSERT OR UPDATE ON mallory.m10 FOR EACH ROW EXECUTE FUNCTION mallory.bump();
INSERT INTO mallory.m10 VALUES (1, 'Bump Tag');
INSERT INTO mallory.m10 VALUES (2, 'Other Bump');
UPDATE mallory.m10 SET name = 'Bumped Again' WHERE id = 2;
});
	push @p, "setup: $e" if $e =~ /ERROR/;
	sleep 1;
	wait_settled(20);
	my @live = live_names($TAGS, qr/Bump/);
	my @rows = sort split /\n/, admin_q(q{SELECT name FROM mallory.m10});
	push @p, "her table holds [@rows] but the live site shows [@live]" unless "@live" eq "@rows";
	return @p;
});

# ---------------------------------------------------------------------
# the end
# ---------------------------------------------------------------------
diag("open-transaction-attack: $n_attempts attempts, $n_breaks breaks");
note(sprintf('open-transaction-attack took %.0f s', time - $t_start));
done_testing();
