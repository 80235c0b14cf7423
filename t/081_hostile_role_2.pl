# t/081_hostile_role_2.pl: a second hostile role against the privilege model.
#
# t/080_hostile_role.pl planted code everywhere (casts, views, search_path,
# quoting, SECURITY DEFINER) and found nothing.  This file tries routes 080
# did not: the claim of a collection (webflow.collection_owners) and the
# ways a table may come to feed a collection without bind() checking it
# (a race between two binds, a publish trigger made by hand, a publish
# trigger renamed so that unbind() leaves it, a claim left by a dropped
# role, a claimant renamed), Reference fields resolved through another role's item map, table
# ownership handed to a group, a column type changed after bind, and the
# denials of service one role can cause to every other (the drain lock,
# a row lock the worker waits on, a row the worker can never record, a
# 401 pause anyone may lift).
#
# Cast: mallory (EXECUTE on bind, unbind, sync, verify, retry and drain;
# her own schema; a member of group web), alice and bob (the same grants,
# alice also in web), carol (offboarded in one attempt), nobody (a login
# role without any grant).  Every attempt starts from an empty publishing
# state (no binding, claim, item map or queued change) and a fresh fake.
#
# One ok() per attempt.  An attempt fails (an ESCALATION) when mallory
# acted on, or learned, what the model says is another role's: fed or
# claimed another role's collection, changed or deleted its items at
# Webflow, read its row keys or item map, locked it out of its own
# collection, saw the token, ran code as another role, or gained a role
# attribute or membership.  Harms the model does not rule out (one role
# stalling everyone's publishing) are FINDINGS: reported with diag, the
# ok() passes.  The end says "hostile-role-2: N attempts, M escalations".
#
# Every session of the superuser runs with search_path = pg_catalog alone
# (see t/080's header for why).
use strict;
use warnings;
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time sleep);
use FindBin;
use lib $FindBin::RealBin;
use WebflowTest;

my $root    = $ENV{TESTDIR} || '.';
my $t_start = time;
my $token   = 'wfsecret-hostile2-7c3e9a1b5d2f4e6a8b0c1d3e5f7a9b2c';

# the fake accepts the distinctive token (a copy of the fixture adds it)
my $json    = JSON::PP->new->utf8->canonical;
my $fixture = $json->decode(slurp_file("$root/test/fixture.json"));
$fixture->{tokens}{$token} = { %{ $fixture->{tokens}{'test-token'} } };
my $fixdir = PostgreSQL::Test::Utils::tempdir();
open(my $fh, '>', "$fixdir/fixture.json") or die "fixture: $!";
print $fh $json->encode($fixture);
close $fh;
$ENV{WEBFLOW_FAKE_ARGS} = "--fixture $fixdir/fixture.json";
start_fake();

my $node = new_node(
	'hostile2',
	'webflow.token'   => "'$token'",
	'webflow.naptime' => "'1s'");
my $su = $node->safe_psql('postgres', 'SELECT current_user');

# ---------------------------------------------------------------------
# sessions (small helpers copied from t/080)
# ---------------------------------------------------------------------
sub ql { my $s = shift; $s =~ s/'/''/g; return "'$s'"; }

my $seen = '';    # everything mallory (and nobody) saw during an attempt

sub fill
{
	my ($s) = @_;
	$s =~ s/__JOBS__/$JOBS/g;
	$s =~ s/__BOOKS__/$BOOKS/g;
	$s =~ s/__AUTHORS__/$AUTHORS/g;
	$s =~ s/__TAGS__/$TAGS/g;
	return $s;
}

# admin(SQL): as the superuser, search_path pg_catalog alone; dies on error
sub admin
{
	my ($sql) = @_;
	return $node->safe_psql('postgres', "SET search_path = pg_catalog;\n" . fill($sql));
}

# admin_q(SQL): as admin(), but returns '' on error
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
	my $pre = $user eq $su ? "SET search_path = pg_catalog;\n" : '';
	my ($ret, $out, $err) = $node->psql('postgres', $pre . fill($sql),
		extra_params => [ '-U', $user ],
		on_error_stop => 0,
		timeout => 120);
	$out //= '';
	$err //= '';
	$seen .= "$out\n$err\n" if $user eq 'mallory' || $user eq 'nobody';
	return ($ret, $out, $err);
}
sub mallory { return run_as('mallory', @_); }
sub alice   { return run_as('alice', @_); }

my $bg_n = 0;

# bg(USER, SQL): a psql session in the background (IPC::Run); bg_finish
# returns its (out, err)
sub bg
{
	my ($user, $sql) = @_;
	my ($out, $err) = ('', '');
	# (the script from a file: IPC::Run feeds a scalar stdin only when pumped)
	my $file = "$fixdir/bg_" . ++$bg_n . '.sql';
	open(my $sf, '>', $file) or die "$file: $!";
	print $sf fill($sql);
	close $sf;
	my $h = IPC::Run::start(
		[ 'psql', '-X', '-A', '-t', '-q', '-d', $node->connstr('postgres'), '-U', $user, '-f', $file ],
		'<', \undef, '>', \$out, '2>', \$err, IPC::Run::timeout(90));
	return { h => $h, out => \$out, err => \$err, user => $user };
}

sub bg_finish
{
	my ($b) = @_;
	eval { $b->{h}->finish; 1 } or eval { $b->{h}->kill_kill };
	$seen .= "${$b->{out}}\n${$b->{err}}\n" if $b->{user} eq 'mallory' || $b->{user} eq 'nobody';
	return (${ $b->{out} }, ${ $b->{err} });
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

# item(COLL, NAME): the fake's item of a collection with that name (live or staged)
sub items_named
{
	my ($coll, $re) = @_;
	return [ grep { ($_->{fieldData}{name} // '') =~ $re || (($_->{liveFieldData} // {})->{name} // '') =~ $re }
		  @{ fake_items($coll) } ];
}

sub item_by_id
{
	my ($coll, $id) = @_;
	my ($it) = grep { $_->{id} eq $id } @{ fake_items($coll) };
	return $it;
}

# the name an item shows (live version first)
sub shown_name
{
	my ($it) = @_;
	return '(gone)' unless $it;
	return ($it->{liveFieldData} && $it->{liveFieldData}{name}) // $it->{fieldData}{name} // '';
}

# reset_world: no binding, claim, item map, queued change or publish
# trigger anywhere; the fake back to its fixture; no pause
sub reset_world
{
	wait_settled(10);
	fake_clear_faults();
	admin(q{
DO $d$
DECLARE r record;
BEGIN
    FOR r IN SELECT t.tgname, t.tgrelid::regclass::text AS rel
             FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
             WHERE p.pronamespace = 'webflow'::regnamespace AND t.tgparentid = 0
               AND t.tgrelid NOT IN (SELECT oid FROM pg_class WHERE relnamespace = 'webflow'::regnamespace) LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', r.tgname, r.rel);
    END LOOP;
END
$d$;
DELETE FROM webflow.outbox;
DELETE FROM webflow.bindings;
DELETE FROM webflow.items;
DELETE FROM webflow.collection_owners;
SELECT pg_reload_conf();
});
	fake_reset();
	sleep(0.3);
}

# ---------------------------------------------------------------------
# the cast
# ---------------------------------------------------------------------
admin(q{
CREATE TABLE public.evidence (
    id bigserial PRIMARY KEY, planted text, phase text, cur name, sess name,
    at timestamptz DEFAULT clock_timestamp());
GRANT SELECT, INSERT ON public.evidence TO PUBLIC;
GRANT USAGE ON SEQUENCE public.evidence_id_seq TO PUBLIC;

CREATE ROLE mallory LOGIN;
CREATE ROLE alice LOGIN;
CREATE ROLE bob LOGIN;
CREATE ROLE carol LOGIN;
CREATE ROLE nobody LOGIN;
CREATE ROLE web NOLOGIN;
GRANT web TO mallory, alice;
GRANT EXECUTE ON FUNCTION webflow.bind(regclass, text, jsonb), webflow.unbind(regclass, text),
    webflow.sync(regclass), webflow.verify(regclass), webflow.retry(boolean), webflow.drain(integer)
    TO mallory, alice, bob, carol;
CREATE SCHEMA alice AUTHORIZATION alice;
CREATE SCHEMA mallory AUTHORIZATION mallory;
CREATE SCHEMA bob AUTHORIZATION bob;
CREATE SCHEMA carol AUTHORIZATION carol;
GRANT USAGE ON SCHEMA alice, mallory, bob, carol TO PUBLIC;
GRANT CREATE ON SCHEMA mallory TO web;

-- hr2_note(planted): records who runs mallory's code, and tries to escalate
CREATE FUNCTION public.hr2_note(planted text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $f$
BEGIN
    INSERT INTO public.evidence (planted, phase, cur, sess)
    VALUES (planted, coalesce(current_setting('hostile.phase', true), ''), current_user, session_user);
    RAISE WARNING 'HOSTILE2-EVIDENCE|%|%|%|', planted, current_user, session_user;
    IF current_user <> 'mallory' THEN
        BEGIN
            EXECUTE 'ALTER ROLE mallory SUPERUSER';
        EXCEPTION WHEN OTHERS THEN NULL;
        END;
    END IF;
    RETURN true;
END
$f$;
GRANT EXECUTE ON FUNCTION public.hr2_note(text) TO PUBLIC;
});

# mallory's attributes and memberships (baseline: member of web)
sub mallory_roles
{
	return admin_q(q{
SELECT concat_ws(' ',
    CASE WHEN rolsuper THEN 'SUPERUSER' END, CASE WHEN rolcreaterole THEN 'CREATEROLE' END,
    CASE WHEN rolcreatedb THEN 'CREATEDB' END, CASE WHEN rolreplication THEN 'REPLICATION' END,
    CASE WHEN rolbypassrls THEN 'BYPASSRLS' END,
    (SELECT string_agg('member of ' || m.roleid::regrole::text, ' ' ORDER BY 1) FROM pg_auth_members m
     WHERE m.member = r.oid))
FROM pg_roles r WHERE rolname = 'mallory'});
}
my $mallory_roles0 = mallory_roles();
is($mallory_roles0, 'member of web', 'mallory starts as a plain role, member of web');

# ---------------------------------------------------------------------
# the oracle
# ---------------------------------------------------------------------
my ($n_attempts, $n_escalations, $n_findings) = (0, 0, 0);
my @findings;     # of the attempt running

sub finding { push @findings, join('', @_); }

# attempt(NAME, CODE): CODE runs the route and returns its escalations
sub attempt
{
	my ($name, $code) = @_;
	$n_attempts++;
	$seen     = '';
	@findings = ();
	reset_world();
	my $ev0 = admin_q(q{SELECT coalesce(max(id), 0) FROM public.evidence}) || 0;
	my $t0  = time;
	my @problems;
	eval { push @problems, $code->(); 1 } or push @problems, "the attempt died: $@";

	my $roles = mallory_roles();
	push @problems, "mallory has [$roles], had [$mallory_roles0]" if $roles ne $mallory_roles0;
	push @problems, 'mallory (or nobody) saw the token' if index($seen, $token) >= 0;
	for my $e (split /\n/, admin_q(qq{SELECT planted || ' ran as ' || cur || ' (phase ' || phase || ')'
                                      FROM public.evidence WHERE id > $ev0 AND cur <> 'mallory'
                                        AND phase NOT LIKE 'direct:%' ORDER BY id}))
	{
		push @problems, "her code: $e";
	}
	my %u;
	@problems = grep { !$u{$_}++ } @problems;
	$n_escalations++ if @problems;
	$n_findings++ if @findings;
	ok(!@problems, "hostile2: $name")
	  or diag(join("\n", map { "  ESCALATION: $_" } @problems));
	diag(join("\n", map { "  FINDING ($name): $_" } @findings)) if @findings;
	note(sprintf('%s: %.1f s', $name, time - $t0));

	# what one attempt did must not fail the next ones
	if ($roles ne $mallory_roles0)
	{
		admin_q('ALTER ROLE mallory NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS');
		admin_q(q{DO $d$ DECLARE r record; BEGIN
            FOR r IN SELECT roleid::regrole::text AS g FROM pg_auth_members
                     WHERE member = 'mallory'::regrole AND roleid <> 'web'::regrole LOOP
                EXECUTE format('REVOKE %s FROM mallory', r.g);
            END LOOP; END $d$;});
	}
}

# alice_table(TABLE, COLL, ROWS): alice's table (text keys), bound and published
sub alice_table
{
	my ($t, $coll, @rows) = @_;
	my $values = join(', ', map { '(' . ql($_->[0]) . ', ' . ql($_->[1]) . ')' } @rows);
	my ($r, $o, $e) = alice(qq{
CREATE TABLE $t (id text PRIMARY KEY, name text NOT NULL);
INSERT INTO $t VALUES $values;
SELECT webflow.bind('$t', '$coll');
SELECT webflow.sync('$t');
});
	die "alice could not bind $t: $e" if $e =~ /ERROR/;
	wait_settled();
	return admin(qq{SELECT string_agg(source_key || '=' || item_id, ',' ORDER BY source_key)
                    FROM webflow.items WHERE collection_id = '$coll'});
}

# item_map(COLL): { source_key => item_id }
sub item_map
{
	my ($coll) = @_;
	return { map { split /\|/ } split /\n/,
		  admin_q(qq{SELECT source_key, item_id FROM webflow.items WHERE collection_id = '$coll'}) };
}

# keys_from_verify(OUT): the row keys verify() printed
sub keys_from_verify
{
	my ($out) = @_;
	my @k;
	for my $line (split /\n/, $out)
	{
		my @f = split /\|/, $line, -1;
		push @k, $f[1] if @f >= 3 && ($f[0] eq 'extra' || $f[0] eq 'duplicate') && $f[1] ne '';
	}
	return @k;
}

# overwritten(COLL, MAP, RE): alice's items (MAP) that now show a name matching RE
sub overwritten
{
	my ($coll, $map, $re) = @_;
	my @hit;
	for my $k (sort keys %$map)
	{
		my $it = item_by_id($coll, $map->{$k});
		my $n = shown_name($it);
		push @hit, "item $map->{$k} (key $k) now shows '$n'" if $n =~ $re || $n eq '(gone)';
	}
	return @hit;
}

my $ALICE_KEY1 = 'ALICE-KEY-7f3a';    # alice's row keys: e-mail like, not public
my $ALICE_KEY2 = 'ALICE-KEY-9c1d';

# ---------------------------------------------------------------------
# 1. a race between two binds: the claim is checked, then inserted ON
#    CONFLICT ... DO UPDATE ... WHERE <claimant dropped>; a bind that waits
#    on another's uncommitted claim succeeds without one
# ---------------------------------------------------------------------
attempt('claim race: bind() while alice\'s bind() is uncommitted (seen in pg_locks)', sub {
	my @p;
	my $alice_bg = bg('alice', qq{
CREATE TABLE alice.a1 (id text PRIMARY KEY, name text NOT NULL);
INSERT INTO alice.a1 VALUES ('$ALICE_KEY1', 'Alice Author One'), ('$ALICE_KEY2', 'Alice Author Two');
BEGIN;
SELECT webflow.bind('alice.a1', '__AUTHORS__');
SELECT pg_sleep(4);
COMMIT;
SELECT webflow.sync('alice.a1');
});
	# mallory waits until some session holds a fresh claim (a RowExclusiveLock
	# on webflow.collection_owners, visible to all in pg_locks), then binds;
	# with webflow.timeout at 1 ms (any role may set it) her bind() skips
	# the schema refresh that would wait on alice's transaction too (and
	# then fail on its unique key).  On loopback 1 ms hardly ever suffices
	# for an answer; a 300 ms delay of that one request makes it certain.
	wait_until(sub { admin_q(q{SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                              WHERE l.relation = 'webflow.collection_owners'::regclass AND a.usename = 'alice'
                                AND l.mode = 'RowExclusiveLock'}) ne '0' }, 20, 0.05);
	fake_fault({ delay_ms => 300, count => 1, match => { method => 'GET', path => "^/v2/collections/$AUTHORS\$" } });
	my ($r, $o, $e) = mallory(q{
CREATE TABLE mallory.m1 (id text PRIMARY KEY, name text NOT NULL);
DO $$
BEGIN
    FOR i IN 1..400 LOOP
        EXIT WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_locks l
                          WHERE l.relation = 'webflow.collection_owners'::regclass
                            AND l.pid <> pg_backend_pid() AND l.granted AND l.mode = 'RowExclusiveLock');
        PERFORM pg_sleep(0.025);
    END LOOP;
END $$;
SET webflow.timeout = 1;
SELECT webflow.bind('mallory.m1', '__AUTHORS__');
RESET webflow.timeout;
});
	my ($ao, $ae) = bg_finish($alice_bg);
	note("alice: $ae");
	note("mallory's bind: $e");
	wait_settled();
	my $claim = admin_q(q{SELECT owner::text FROM webflow.collection_owners WHERE collection_id = '__AUTHORS__'});
	my $mine  = admin_q(q{SELECT count(*) FROM webflow.bindings WHERE source = 'mallory.m1'::regclass
                          AND collection_id = '__AUTHORS__'});
	my $map = item_map($AUTHORS);
	push @p, "her table mallory.m1 is bound to collection $AUTHORS, which belongs to $claim"
	  if $mine eq '1' && $claim ne 'mallory';
	return @p unless $mine eq '1';

	# verify() tells her alice's row keys (extra items, named by the item map)
	(undef, $o, $e) = mallory(q{SELECT difference, row_key, item_id FROM webflow.verify('mallory.m1');});
	my @keys = keys_from_verify($o);
	push @p, "verify() on her table showed alice's row keys: @keys" if grep { /ALICE-KEY/ } @keys;
	@keys = ($ALICE_KEY1, $ALICE_KEY2) unless @keys;
	# her rows with those keys replace alice's items; a delete removes one
	my $i = 0;
	mallory(join('', map { $i++; "INSERT INTO mallory.m1 VALUES (" . ql($_) . ", 'Pwned By Mallory $i');\n" } @keys));
	wait_settled();
	push @p, overwritten($AUTHORS, $map, qr/Pwned/);
	mallory("DELETE FROM mallory.m1 WHERE id = " . ql($keys[0]) . ";");
	wait_settled();
	my $gone = item_by_id($AUTHORS, $map->{ $keys[0] } // '');
	push @p, "her DELETE took alice's item $map->{$keys[0]} off the live site"
	  if $map->{ $keys[0] } && (!$gone || !$gone->{isLive});
	return @p;
});

# ---------------------------------------------------------------------
# 2. a publish trigger made by hand (README: "its first change registers
#    the binding") registers the binding without a claim
# ---------------------------------------------------------------------
attempt('a publish trigger a superuser made by hand on alice\'s table leaves her collection unclaimed', sub {
	my @p;
	alice(qq{
CREATE TABLE alice.a2 (id text PRIMARY KEY, name text NOT NULL);
});
	admin(q{CREATE TRIGGER alice_tags AFTER INSERT OR UPDATE OR DELETE ON alice.a2
             FOR EACH ROW EXECUTE FUNCTION webflow.publish_trigger('__TAGS__', '{}');});
	alice(qq{INSERT INTO alice.a2 VALUES ('$ALICE_KEY1', 'Alice Tag One'), ('$ALICE_KEY2', 'Alice Tag Two');});
	wait_settled();
	my $map = item_map($TAGS);
	push @p, "setup: alice's rows were not published" unless keys %$map == 2;
	note('claim after the hand-made binding: '
		  . (admin_q(q{SELECT owner::text FROM webflow.collection_owners WHERE collection_id = '__TAGS__'}) || 'none'));

	my ($r, $o, $e) = mallory(q{
CREATE TABLE mallory.m2 (id text PRIMARY KEY, name text NOT NULL);
SELECT webflow.bind('mallory.m2', '__TAGS__');
SELECT difference, row_key, item_id FROM webflow.verify('mallory.m2');
});
	note("mallory: $e");
	my $claim = admin_q(q{SELECT owner::text FROM webflow.collection_owners WHERE collection_id = '__TAGS__'});
	my $mine  = admin_q(q{SELECT count(*) FROM webflow.bindings WHERE source = 'mallory.m2'::regclass});
	return @p unless $mine eq '1';
	push @p, "her table is bound to alice's collection $TAGS, and the claim is now $claim";
	push @p, "bind() told her alice's table name" if $e =~ /alice\.a2/;
	my @keys = keys_from_verify($o);
	push @p, "verify() showed her alice's row keys: @keys" if grep { /ALICE-KEY/ } @keys;
	@keys = ($ALICE_KEY1, $ALICE_KEY2) unless @keys;
	my ($k1, $k2) = sort @keys;
	mallory("INSERT INTO mallory.m2 VALUES (" . ql($k1) . ", 'Pwned Tag');");
	wait_settled();
	push @p, overwritten($TAGS, { $k1 => $map->{$k1} }, qr/Pwned/);
	# alice cannot bind her own table to her collection any more
	($r, $o, $e) = alice(q{SELECT webflow.bind('alice.a2', '__TAGS__');});
	push @p, "alice's own bind() is refused now: " . ($e =~ /(ERROR:[^\n]*)/)[0] if $e =~ /belongs to role/;
	# alice gives up and unbinds; mallory's sync() now feeds the collection
	# alone, and deletes the items of "rows that are gone": alice's
	alice(q{SELECT webflow.unbind('alice.a2');});
	mallory(q{SELECT webflow.sync('mallory.m2');});
	wait_settled();
	my $it = item_by_id($TAGS, $map->{$k2} // '');
	push @p, "after alice's unbind(), her sync() took alice's item $map->{$k2} (key $k2) off the live site"
	  if $map->{$k2} && (!$it || !$it->{isLive});
	return @p;
});

# ---------------------------------------------------------------------
# 3. unbind() drops the triggers named webflow_publish_<id>: one she
#    renamed stays, and its next row registers the binding again without
#    bind()'s checks, after the collection was handed to alice
# ---------------------------------------------------------------------
attempt('a renamed publish trigger survives unbind() and re-binds after the collection is handed over', sub {
	my @p;
	mallory(q{
CREATE TABLE mallory.m3 (id text PRIMARY KEY, name text NOT NULL);
SELECT webflow.bind('mallory.m3', '__JOBS__');
ALTER TRIGGER "webflow_publish___JOBS__" ON mallory.m3 RENAME TO keep_publishing;
});
	# the superuser cleans up as the README says: unbind her table, hand
	# the collection to alice
	admin(q{SELECT webflow.unbind('mallory.m3');
            UPDATE webflow.collection_owners SET owner = 'alice' WHERE collection_id = '__JOBS__';});
	my $left = admin_q(q{SELECT count(*) FROM webflow.bindings WHERE source = 'mallory.m3'::regclass});
	push @p, "setup: her binding survived the superuser's unbind" if $left ne '0';
	alice_table('alice.a3', $JOBS, [ '1', 'Alice Job One' ], [ '2', 'Alice Job Two' ]);
	my $map = item_map($JOBS);
	push @p, "setup: alice's rows were not published" unless keys %$map == 2;

	mallory(q{INSERT INTO mallory.m3 VALUES ('1', 'Pwned Job'), ('2', 'Pwned Job Two');});
	wait_settled();
	my $back = admin_q(q{SELECT count(*) FROM webflow.bindings WHERE source = 'mallory.m3'::regclass
                         AND collection_id = '__JOBS__'});
	push @p, "her table is bound again to $JOBS (alice's), by her renamed trigger" if $back eq '1';
	push @p, overwritten($JOBS, $map, qr/Pwned/);
	return @p;
});

# ---------------------------------------------------------------------
# 4. Reference fields: bind() checks a sample row as the extension owner,
#    who may read webflow.items, so her row's reference is resolved in
#    alice's item map (item_payload() refuses that to her)
# ---------------------------------------------------------------------
attempt('a Reference field to alice\'s collection: bind() and the worker resolve alice\'s keys for her', sub {
	my @p;
	alice_table('alice.a4', $AUTHORS, [ $ALICE_KEY1, 'Alice Secret Author' ]);
	my $map = item_map($AUTHORS);
	admin(q{SELECT webflow.refresh_schema('__BOOKS__');});
	my ($r, $o, $e) = mallory(q{
CREATE TABLE mallory.m4 (id int PRIMARY KEY, name text NOT NULL, author text);
INSERT INTO mallory.m4 VALUES (1, 'Mallory Probe Book', 'guess@nowhere.example');
SELECT webflow.item_payload('{"name": "x", "author": "guess@nowhere.example"}',
                            '{"collection": "__BOOKS__"}');
});
	my $direct = $e =~ /(ERROR:[^\n]*)/ ? "refused ($1)" : 'allowed';
	note("item_payload() resolving a key as mallory: $direct");
	my @oracle;
	for my $guess ('guess@nowhere.example', $ALICE_KEY1)
	{
		(undef, $o, $e) = mallory(qq{
UPDATE mallory.m4 SET author = @{[ql($guess)]} WHERE id = 1;
SELECT webflow.bind('mallory.m4', '__BOOKS__', '{"fields": {"author": "author"}}');
});
		my $res = $e =~ /ERROR:\s*([^\n]*)/ ? "error: $1" : 'bound';
		push @oracle, [ $guess, $res ];
		note("bind() with author = $guess: $res");
		mallory(q{SELECT webflow.unbind('mallory.m4');}) if $res eq 'bound' && $guess ne $ALICE_KEY1;
	}
	push @p, "bind() tells whether alice's item map has a key: '$oracle[0][0]' -> $oracle[0][1]; "
	  . "'$oracle[1][0]' -> $oracle[1][1] (item_payload() resolving a key as mallory: $direct)"
	  if $oracle[0][1] ne $oracle[1][1];
	wait_settled();
	mallory(q{SELECT webflow.sync('mallory.m4');});
	wait_settled();
	my ($book) = @{ items_named($BOOKS, qr/Mallory Probe Book/) };
	my $ref = $book ? (($book->{liveFieldData} // $book->{fieldData})->{author} // '') : '';
	push @p, "the worker sent her Book with author = $ref, alice's item for key $ALICE_KEY1"
	  if $ref ne '' && $ref eq ($map->{$ALICE_KEY1} // '-');
	return @p;
});

# ---------------------------------------------------------------------
# 5. a dropped role's claim is void (README) -- also while the table it
#    bound still feeds the collection under its new owner
# ---------------------------------------------------------------------
attempt('claimant offboarded (REASSIGN OWNED, DROP ROLE): its bound table, now bob\'s, loses the collection', sub {
	my @p;
	my ($r, $o, $e) = run_as('carol', q{
CREATE TABLE carol.c5 (id text PRIMARY KEY, name text NOT NULL);
INSERT INTO carol.c5 VALUES ('1', 'Carol Tag One'), ('2', 'Carol Tag Two');
SELECT webflow.bind('carol.c5', '__TAGS__');
SELECT webflow.sync('carol.c5');
});
	wait_settled();
	my $map = item_map($TAGS);
	push @p, "setup: carol's rows were not published ($e)" unless keys %$map == 2;
	admin(q{REASSIGN OWNED BY carol TO bob; DROP OWNED BY carol; DROP ROLE carol;});
	my $still = admin_q(q{SELECT c.relowner::regrole::text FROM webflow.bindings b JOIN pg_class c ON c.oid = b.source
                          WHERE b.collection_id = '__TAGS__'});
	note("the table that feeds Tags now belongs to: $still");

	($r, $o, $e) = mallory(q{
CREATE TABLE mallory.m5 (id text PRIMARY KEY, name text NOT NULL);
SELECT webflow.bind('mallory.m5', '__TAGS__');
INSERT INTO mallory.m5 VALUES ('1', 'Pwned Tag'), ('2', 'Pwned Tag Two');
});
	wait_settled();
	my $claim = admin_q(q{SELECT owner::text FROM webflow.collection_owners WHERE collection_id = '__TAGS__'});
	my $mine = admin_q(q{SELECT count(*) FROM webflow.bindings WHERE source = 'mallory.m5'::regclass});
	if ($mine eq '1')
	{
		push @p, "her table feeds $TAGS, still fed by bob's carol.c5, and the claim is now $claim";
		push @p, map { "bob's $_" } overwritten($TAGS, $map, qr/Pwned/);
		(undef, undef, $e) = run_as('bob', q{SELECT webflow.bind('carol.c5', '__TAGS__');});
		push @p, "bob cannot bind his own table to it any more: " . ($e =~ /(ERROR:[^\n]*)/)[0]
		  if $e =~ /belongs to role/;
	}
	return @p;
});

# ---------------------------------------------------------------------
# 5b. the claimant renamed, and a role created with its old name
# ---------------------------------------------------------------------
attempt('alice renamed, and a new role with her old name: the claim follows her oid', sub {
	my @p;
	alice_table('alice.a5', $JOBS, [ '1', 'Alice Job One' ]);
	my $map = item_map($JOBS);
	admin(q{ALTER ROLE alice RENAME TO alice_renamed; CREATE ROLE alice LOGIN;
            GRANT EXECUTE ON FUNCTION webflow.bind(regclass, text, jsonb), webflow.sync(regclass) TO alice;
            CREATE TABLE public.a5_impostor (id text PRIMARY KEY, name text NOT NULL);
            ALTER TABLE public.a5_impostor OWNER TO alice;});
	my ($r, $o, $e) = run_as('alice', q{SELECT webflow.bind('public.a5_impostor', '__JOBS__');});
	note("the new alice: $e");
	($r, $o, $e) = mallory(q{
CREATE TABLE mallory.m5b (id text PRIMARY KEY, name text NOT NULL);
SELECT webflow.bind('mallory.m5b', '__JOBS__');
});
	my $b = admin_q(q{SELECT string_agg(source::text, ',') FROM webflow.bindings WHERE collection_id = '__JOBS__'
                      AND source::text <> 'alice.a5'});
	push @p, "bound to the renamed alice's collection: $b" if $b ne '';
	admin(q{DROP TABLE IF EXISTS public.a5_impostor; REVOKE ALL ON FUNCTION webflow.bind(regclass, text, jsonb),
            webflow.sync(regclass) FROM alice; DROP ROLE alice; ALTER ROLE alice_renamed RENAME TO alice;});
	return @p;
});

# ---------------------------------------------------------------------
# 6. table ownership handed to a group (alice is in it too)
# ---------------------------------------------------------------------
attempt('her table handed to group web (alice is a member too), then bound to alice\'s collection', sub {
	my @p;
	alice_table('alice.a6', $JOBS, [ '1', 'Alice Job One' ]);
	my $map = item_map($JOBS);
	my ($r, $o, $e) = mallory(q{
CREATE TABLE mallory.m6 (id text PRIMARY KEY, name text NOT NULL);
ALTER TABLE mallory.m6 OWNER TO web;
SELECT webflow.bind('mallory.m6', '__JOBS__');
SET ROLE web;
SELECT webflow.bind('mallory.m6', '__JOBS__');
RESET ROLE;
ALTER TABLE mallory.m6 OWNER TO alice;
CREATE TABLE mallory.m6b (id text PRIMARY KEY, name text NOT NULL);
SELECT webflow.bind('mallory.m6b', '__TAGS__');
ALTER TABLE mallory.m6b OWNER TO web;
SELECT webflow.bind('mallory.m6b', '__JOBS__');
});
	note($e);
	my $b = admin_q(q{SELECT string_agg(source::text, ',') FROM webflow.bindings WHERE collection_id = '__JOBS__'
                      AND source::text LIKE 'mallory.%'});
	push @p, "bound to alice's collection: $b" if $b ne '';
	return @p;
});

# ---------------------------------------------------------------------
# 7. a column type changed after bind(), with her function in USING and
#    in a new default; then the superuser's sync(), bind() and the worker
# ---------------------------------------------------------------------
attempt('ALTER COLUMN TYPE ... USING her function after bind(), then sync, bind and the worker', sub {
	my @p;
	mallory(q{
CREATE FUNCTION mallory.conv(v int) RETURNS text LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp AS $f$ BEGIN PERFORM public.hr2_note('alter-type: USING'); RETURN v::text; END $f$;
CREATE FUNCTION mallory.dflt() RETURNS text LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp AS $f$ BEGIN PERFORM public.hr2_note('alter-type: default'); RETURN 'd'; END $f$;
CREATE TABLE mallory.m7 (id int PRIMARY KEY, name text NOT NULL, n int);
INSERT INTO mallory.m7 VALUES (1, 'Mallory Seven', 7);
SELECT webflow.bind('mallory.m7', '__TAGS__', '{"fields": {"n": "description"}}');
ALTER TABLE mallory.m7 ALTER COLUMN n TYPE text USING mallory.conv(n), ALTER COLUMN n SET DEFAULT mallory.dflt();
INSERT INTO mallory.m7 (id, name) VALUES (2, 'Mallory Seven Two');
UPDATE mallory.m7 SET n = mallory.conv(8) WHERE id = 1;
GRANT INSERT, UPDATE ON mallory.m7 TO alice;
});
	run_as($su, q{
SET hostile.phase = 'su-sync';
SELECT webflow.sync('mallory.m7');
SELECT webflow.bind('mallory.m7', '__TAGS__', '{"fields": {"n": "description"}}');
SELECT webflow.drain();
});
	run_as('alice', q{SET hostile.phase = 'direct:alice'; INSERT INTO mallory.m7 (id, name) VALUES (3, 'Alice In Seven');});
	wait_settled();
	return @p;
});

# ---------------------------------------------------------------------
# denials of service: what one role can do to everybody's publishing
# ---------------------------------------------------------------------

# 8. the drain lock is pg_try_advisory_lock(7769, 1): any role may take it
attempt('the drain lock (advisory 7769,1) held by a role without any grant', sub {
	my @p;
	alice_table('alice.a8', $JOBS, [ '1', 'Alice Job One' ]);
	my $holder = bg('nobody', q{SELECT pg_advisory_lock(7769, 1); SELECT pg_sleep(6);});
	my $held = wait_until(sub {
			admin_q(q{SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                      WHERE l.locktype = 'advisory' AND l.classid = 7769 AND l.objid = 1 AND l.granted
                        AND a.usename = 'nobody'}) eq '1';
		}, 10, 0.05);
	alice(q{INSERT INTO alice.a8 VALUES ('2', 'Alice Job Stalled');});
	my ($r, $o, $e) = alice(q{SELECT webflow.drain();});
	sleep(3);
	my $stalled = !@{ items_named($JOBS, qr/Alice Job Stalled/) };
	bg_finish($holder);
	my $later = wait_until(sub { @{ items_named($JOBS, qr/Alice Job Stalled/) } > 0 }, 20, 0.2);
	finding("a role with no grant at all (nobody) took the drain lock with SELECT pg_advisory_lock(7769, 1): "
		  . "alice's row waited 3 s and more, her drain() returned " . ($o =~ /(\d+)/)[0]
		  . '; it went out only when that session ended'
		  . ($later ? '' : ' (and not even then, within 20 s)'))
	  if $held && $stalled;
	return @p;
});

# live_names(COLL, RE): the names of the live items a visitor sees (every
# page) that match RE
sub live_names
{
	my ($coll, $re) = @_;
	return map { $_->{fieldData}{name} } grep { ($_->{fieldData}{name} // '') =~ $re } @{ fake_pages($coll) };
}

# mallory_sleeps: wait until her background session sleeps in its transaction
sub mallory_sleeps
{
	return wait_until(sub { admin_q(q{SELECT count(*) FROM pg_stat_activity WHERE usename = 'mallory'
                                      AND wait_event = 'PgSleep'}) eq '1' }, 10, 0.05);
}

# tag_table(NAME, FIRST): her table bound to Tags, with one row published
sub tag_table
{
	my ($t, $first) = @_;
	mallory(qq{
CREATE TABLE $t (id int PRIMARY KEY, name text NOT NULL);
SELECT webflow.bind('$t', '__TAGS__');
INSERT INTO $t VALUES (1, '$first');
});
	my $ok = wait_until(sub { @{ items_named($TAGS, qr/^\Q$first\E$/) } > 0 }, 20, 0.2);
	wait_settled(20);
	return $ok;
}

# 9. a row lock the worker's record step waits for: her open retry()
attempt('her open transaction after retry() holds a failed row the worker must delete', sub {
	my @p;
	alice_table('alice.a9', $JOBS, [ '1', 'Alice Job One' ]);
	mallory(q{
CREATE TABLE mallory.m9 (id int PRIMARY KEY, name text NOT NULL);
SELECT webflow.bind('mallory.m9', '__TAGS__');
INSERT INTO mallory.m9 VALUES (1, '!!!');
});
	wait_until(sub { admin_q(q{SELECT count(*) FROM webflow.outbox WHERE state = 'failed'}) eq '1' }, 20, 0.2)
	  or push @p, 'setup: her row did not fail';
	my $locker = bg('mallory', q{BEGIN; SELECT webflow.retry(); SELECT pg_sleep(7); COMMIT;});
	mallory_sleeps();
	mallory(q{UPDATE mallory.m9 SET name = 'Fixed Tag' WHERE id = 1;});
	sleep(1);
	alice(q{INSERT INTO alice.a9 VALUES ('2', 'Alice Job Stalled');});
	sleep(2.5);
	my $waiting = admin_q(q{SELECT wait_event_type || ':' || wait_event FROM pg_stat_activity
                            WHERE backend_type = 'webflow worker'});
	my $stalled = !@{ items_named($JOBS, qr/Alice Job Stalled/) };
	bg_finish($locker);
	my $later = wait_until(sub { @{ items_named($JOBS, qr/Alice Job Stalled/) } > 0 }, 20, 0.2);
	push @p, "while her transaction (BEGIN; SELECT webflow.retry(); ... idle) holds her failed outbox row, "
	  . "the worker waits ($waiting) in its record step, holding the drain lock: alice's new row is not "
	  . 'published until mallory ends her transaction' . ($later ? '' : ' (nor within 20 s after)')
	  if $stalled && $waiting =~ /^Lock/;
	push @p, "alice's row was not published (worker: $waiting)" if $stalled;
	wait_settled(20);
	my @live = live_names($TAGS, qr/Tag/);
	push @p, "mallory's row shows as [@live] on the live site, not [Fixed Tag]"
	  unless "@live" eq 'Fixed Tag';
	return @p;
});

# 9b. her open retry() of an older, sendable change while a newer one goes
# out: once she commits, the older image must not overwrite the newer one
attempt('her open retry() of an older change does not bring it back over the newer one', sub {
	my @p;
	mallory(q{
CREATE TABLE mallory.m9b (id int PRIMARY KEY, name text NOT NULL);
SELECT webflow.bind('mallory.m9b', '__TAGS__');
});
	fake_fault({ status => 400, count => 1, body => { code => 'validation_error', message => 'Validation Error' },
		match => { method => 'POST', path => "^/v2/collections/$TAGS/items" } });
	mallory(q{INSERT INTO mallory.m9b VALUES (1, 'Old Tag');});
	wait_until(sub { admin_q(q{SELECT count(*) FROM webflow.outbox WHERE state = 'failed'}) eq '1' }, 20, 0.2)
	  or push @p, 'setup: her row did not fail';
	my $locker = bg('mallory', q{BEGIN; SELECT webflow.retry(); SELECT pg_sleep(5); COMMIT;});
	mallory_sleeps();
	mallory(q{UPDATE mallory.m9b SET name = 'New Tag' WHERE id = 1;});
	my $sent = wait_until(sub { grep { ($_->{fieldData}{name} // '') eq 'New Tag' } @{ fake_pages($TAGS) } }, 4, 0.2);
	bg_finish($locker);
	sleep 3;
	wait_settled(20);
	my @live = live_names($TAGS, qr/Tag/);
	push @p, "the newer change waited for her transaction" unless $sent;
	push @p, "after her retry() committed the live site shows [@live], not [New Tag]"
	  unless "@live" eq 'New Tag';
	my $left = admin_q(q{SELECT count(*) FROM webflow.outbox});
	push @p, "$left outbox rows left" unless $left eq '0';
	return @p;
});

# 9c. her open bind() holds her binding while her row is in flight
attempt('her open bind() while her row is in flight does not hold up alice', sub {
	my @p;
	alice_table('alice.a9c', $JOBS, [ '1', 'Alice Job One' ]);
	mallory(q{
CREATE TABLE mallory.m9c (id int PRIMARY KEY, name text NOT NULL);
SELECT webflow.bind('mallory.m9c', '__TAGS__');
});
	fake_fault({ delay_ms => 2500, count => 1, match => { method => 'POST', path => "^/v2/collections/$TAGS/items" } });
	mallory(q{INSERT INTO mallory.m9c VALUES (1, 'Slow Tag');});
	sleep 0.5;
	my $locker = bg('mallory', q{BEGIN; SELECT webflow.bind('mallory.m9c', '__TAGS__'); SELECT pg_sleep(8); COMMIT;});
	mallory_sleeps();
	alice(q{INSERT INTO alice.a9c VALUES ('2', 'Alice Job Quick');});
	my $quick = wait_until(sub { @{ items_named($JOBS, qr/Alice Job Quick/) } > 0 }, 5, 0.2);
	my $waiting = admin_q(q{SELECT coalesce(wait_event_type || ':' || wait_event, 'running') FROM pg_stat_activity
                            WHERE backend_type = 'webflow worker'});
	bg_finish($locker);
	push @p, "while her bind() is open, alice's row is not published within 5 s (worker: $waiting)" unless $quick;
	wait_settled(20);
	my @live = live_names($TAGS, qr/Tag/);
	push @p, "mallory's row shows as [@live] on the live site, not [Slow Tag]" unless "@live" eq 'Slow Tag';
	return @p;
});

# 9d. her open sync() repairs her item while the worker records her change
attempt('her open sync() repairing her item does not hold up alice', sub {
	my @p;
	alice_table('alice.a9d', $JOBS, [ '1', 'Alice Job One' ]);
	tag_table('mallory.m9d', 'Sync Tag') or push @p, 'setup: her row was not published';
	# the Designer renames her item: sync() finds it stale and repairs it
	my ($it) = @{ items_named($TAGS, qr/^Sync Tag$/) };
	my ($st) = fake_api('PATCH', "/collections/$TAGS/items/$it->{id}/live",
		{ fieldData => { name => 'Designer Tag' } }, actor => 'designer');
	push @p, "setup: the Designer's rename got $st" unless $st == 200;
	# her next change is in flight (slow) while her sync() is open
	fake_fault({ delay_ms => 2500, count => 1, match => { method => 'PATCH', path => "^/v2/collections/$TAGS/items" } });
	mallory(q{UPDATE mallory.m9d SET name = 'Sync Tag Two' WHERE id = 1;});
	sleep 0.5;
	my $locker = bg('mallory', q{BEGIN; SELECT webflow.sync('mallory.m9d'); SELECT pg_sleep(8); COMMIT;});
	mallory_sleeps();
	alice(q{INSERT INTO alice.a9d VALUES ('2', 'Alice Job Quick');});
	my $quick = wait_until(sub { @{ items_named($JOBS, qr/Alice Job Quick/) } > 0 }, 5, 0.2);
	my $waiting = admin_q(q{SELECT coalesce(wait_event_type || ':' || wait_event, 'running') FROM pg_stat_activity
                            WHERE backend_type = 'webflow worker'});
	my ($out, $err) = bg_finish($locker);
	push @p, "her sync() failed: $err" if $err =~ /ERROR/;
	push @p, "while her sync() is open, alice's row is not published within 5 s (worker: $waiting)" unless $quick;
	sleep 2;
	wait_settled(20);
	my @live = live_names($TAGS, qr/Tag/);
	push @p, "mallory's row shows as [@live] on the live site, not [Sync Tag Two]" unless "@live" eq 'Sync Tag Two';
	return @p;
});

# 9e. a change of her row committed while her sync() reads the table
attempt('a change committed during her open sync() is not overwritten by the image sync() read', sub {
	my @p;
	tag_table('mallory.m9e', 'Race Tag') or push @p, 'setup: her row was not published';
	my ($it) = @{ items_named($TAGS, qr/^Race Tag$/) };
	fake_api('DELETE', "/collections/$TAGS/items/$it->{id}", undef, actor => 'designer');
	my $locker = bg('mallory', q{BEGIN; SELECT webflow.sync('mallory.m9e'); SELECT pg_sleep(4); COMMIT;});
	mallory_sleeps();
	my $writer = bg('mallory', q{UPDATE mallory.m9e SET name = 'Race Tag Two' WHERE id = 1;});
	bg_finish($locker);
	bg_finish($writer);
	sleep 2;
	wait_settled(20);
	my @live = live_names($TAGS, qr/Race/);
	push @p, "her row shows as [@live] on the live site, not [Race Tag Two]" unless "@live" eq 'Race Tag Two';
	my ($r, $o, $e) = mallory(q{BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT webflow.sync('mallory.m9e'); COMMIT;});
	push @p, "sync() in REPEATABLE READ was not refused: $e" unless $e =~ /must run in a READ COMMITTED transaction/;
	return @p;
});

# 10. a row key that fits the outbox's index but not the item map's
attempt('a row key that fits webflow.outbox\'s index but not webflow.items\' (poison row)', sub {
	my @p;
	# the key length where (int4, text, int8) fits a btree entry and
	# (text of 24, text) does not, with a key that does not compress
	my $found = admin(q{
CREATE TEMP TABLE o_like (binding_id integer, row_key text, id bigint);
CREATE INDEX ON o_like (binding_id, row_key, id);
CREATE TEMP TABLE i_like (collection_id text, source_key text, PRIMARY KEY (collection_id, source_key));
CREATE TEMP TABLE k (key text);
INSERT INTO k SELECT string_agg(translate(encode(sha256((random()::text || i)::bytea), 'base64'), E'\n=', ''), '')
FROM generate_series(1, 200) i;
DO $d$
DECLARE
    len integer;
    o_ok boolean;
    i_ok boolean;
    kk text;
BEGIN
    FOR len IN 2600..2760 LOOP
        kk := substr((SELECT key FROM k), 1, len);
        BEGIN INSERT INTO o_like VALUES (1, kk, 1); o_ok := true; EXCEPTION WHEN OTHERS THEN o_ok := false; END;
        BEGIN INSERT INTO i_like VALUES ('580e63fc8c9a982ac9b8b748', kk); i_ok := true; EXCEPTION WHEN OTHERS THEN i_ok := false; END;
        IF o_ok AND NOT i_ok THEN
            UPDATE k SET key = kk;
            RETURN;
        END IF;
    END LOOP;
    UPDATE k SET key = NULL;
END
$d$;
SELECT coalesce(key, '') FROM k;
});
	if ($found eq '')
	{
		note('no key length fits the outbox index but not the item map');
		return @p;
	}
	note('poison key length: ' . length($found));
	alice_table('alice.a10', $JOBS, [ '1', 'Alice Job One' ]);
	my ($r, $o, $e) = mallory(qq{
CREATE TABLE mallory.m10 (k text UNIQUE, name text NOT NULL);
SELECT webflow.bind('mallory.m10', '__TAGS__', '{"key": "k"}');
INSERT INTO mallory.m10 VALUES ('$found', 'Poison Tag');
});
	note("mallory's poison insert: " . ($e =~ /ERROR/ ? $e : 'accepted'));
	return @p if $e =~ /ERROR/;
	sleep(0.5);
	alice(q{INSERT INTO alice.a10 VALUES ('2', 'Alice Job Stalled');});
	sleep(5);
	my $problem = admin_q(q{SELECT webflow.worker_status()->>'problem'});
	my $unmapped = admin_q(q{SELECT count(*) FROM webflow.items WHERE collection_id = '__JOBS__' AND source_key = '2'});
	my $queued = admin_q(q{SELECT count(*) FROM webflow.outbox o JOIN webflow.bindings b ON b.id = o.binding_id
                           WHERE b.source = 'alice.a10'::regclass});
	my $fake_has = scalar @{ items_named($JOBS, qr/Alice Job Stalled/) };
	my $tags_made = scalar @{ items_named($TAGS, qr/Poison Tag/) };
	if ($unmapped eq '0' && $queued ne '0')
	{
		finding("her row with a key of " . length($found) . " characters (it fits webflow.outbox's index, "
			  . "not webflow.items' primary key) makes every pass fail at its record step "
			  . "(worker problem: '$problem'); the pass is rolled back for every role: alice's change "
			  . "stays queued ($queued row(s)) and unmapped although Webflow has "
			  . ($fake_has ? 'its item' : 'no item') . " and $tags_made copy(ies) of the poison item; "
			  . 'no attempt is counted, so it never fails out of the queue');
	}
	# cleanup: the superuser removes the poison row
	admin(q{DELETE FROM webflow.outbox o USING webflow.bindings b WHERE b.id = o.binding_id
            AND b.source = 'mallory.m10'::regclass;
            SELECT webflow.unbind('mallory.m10');});
	wait_settled();
	return @p;
});

# 11. retry() lifts the 401 pause for everyone, and wakes the worker
attempt('retry() by any granted role lifts a 401 pause: the refused token is sent again at her pace', sub {
	my @p;
	alice_table('alice.a11', $JOBS, [ '1', 'Alice Job One' ]);
	fake_fault({ status => 401, count => 100000, match => { path => '^/v2/collections/' } });
	alice(q{INSERT INTO alice.a11 VALUES ('2', 'Alice Job Two');});
	my $paused = wait_until(sub { admin_q(q{SELECT webflow.worker_status()->>'pausedBecause'}) ne '' }, 15, 0.2);
	push @p, 'setup: no pause' unless $paused;
	# what a role without any grant reads
	my (undef, $st) = run_as('nobody', q{SELECT webflow.worker_status()->>'pausedBecause';});
	my $seq0 = fake_log_seq();
	sleep(3);
	my $quiet = scalar @{ api_requests($seq0) };
	my $seq1 = fake_log_seq();
	mallory(join('', map { "SELECT webflow.retry();\nSELECT pg_sleep(0.1);\n" } 1 .. 25));
	my $loud = scalar @{ [ grep { ($_->{status} // 0) == 401 } @{ api_requests($seq1) } ] };
	note("requests while paused: $quiet in 3 s alone; $loud refused ones during her 25 retry() calls");
	finding("retry() by mallory (who has no failed row) lifts the token pause for the whole server and wakes "
		  . "the worker: $loud requests with the refused token in about 3 s, against $quiet in 3 s without "
		  . 'her (the backoff is 10 s doubling to 10 min)')
	  if $loud > $quiet + 5;
	finding("worker_status(), open to every role, tells a role without grants why the queue is paused, "
		  . "naming the collection: '$st'")
	  if $st =~ /[0-9a-f]{24}/;
	fake_clear_faults();
	admin_q('SELECT pg_reload_conf()');
	return @p;
});

# ---------------------------------------------------------------------
# the end
# ---------------------------------------------------------------------
reset_world();
diag("hostile-role-2: $n_attempts attempts, $n_escalations escalations ($n_findings with findings)");
note(sprintf('hostile-role-2 took %.0f s', time - $t_start));
done_testing();
