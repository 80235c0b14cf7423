# t/085_connection_pipeline_attack.pl: a hostile role (and hostile
# conditions) against the publish pipeline's named connections: bind()'s
# "connection" option, bound_by's mapping, the per-token budgets in shared
# memory, pauses, and nothing lost or duplicated when connections change
# under queued rows.
#
# Each attempt is one ok() asserting that the attack FAILS; a failing ok()
# is a BREAK.  The end prints "connection-pipeline-attack: N attempts, M breaks".
#
# A "hostile" HTTP server on loopback stands in for an attacker's host.  Its
# first path segment picks its behaviour (api_url http://127.0.0.1:P/MODE/v2):
#   echo  answers every request with the bearer token it got ({"auth": T}),
#         Get Collection with a schema of name and slug (both required);
#   hang  accepts and never answers;
#   r429  serves the schema, answers everything else 429 with Retry-After: 0.
# It logs "MODE METHOD PATH TOKEN" for every request.
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

my $JOBS      = $WebflowTest::JOBS;
my $BOOKS     = $WebflowTest::BOOKS;
my $AUTHORS   = $WebflowTest::AUTHORS;
my $TAGS      = $WebflowTest::TAGS;
my $POSITIONS = '580e63fc8c9a982ac9b8b749';
my $dir       = PostgreSQL::Test::Utils::tempdir();
chmod 0755, $dir;
my $t_start = time;

# ------------------------------------------------------------ hostile server
my $hostile_py = <<'PY';
import http.server, json, sys, time
log = open(sys.argv[2], "a", buffering=1)
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def handle_one(self):
        auth = self.headers.get("Authorization", "")
        tok = auth[7:] if auth.startswith("Bearer ") else auth
        parts = self.path.split("?")[0].split("/")
        mode = parts[1] if len(parts) > 1 else ""
        rest = "/" + "/".join(parts[3:])
        log.write("%s %s %s %s\n" % (mode, self.command, rest, tok))
        n = int(self.headers.get("Content-Length") or 0)
        if n: self.rfile.read(n)
        if mode == "hang":
            time.sleep(120)
            return
        status, headers = 200, {}
        if rest.startswith("/collections/") and rest.count("/") == 2:
            body = {"id": rest.rsplit("/", 1)[1], "displayName": "x", "slug": "x",
                    "fields": [{"id": "f0000000000000000000001", "slug": "name", "displayName": "Name",
                                "type": "PlainText", "isRequired": True, "isEditable": True},
                               {"id": "f0000000000000000000002", "slug": "slug", "displayName": "Slug",
                                "type": "PlainText", "isRequired": True, "isEditable": True}]}
        elif mode == "echo" and rest.endswith("/items") and self.command == "GET":
            body = {"items": [], "pagination": {"limit": 100, "offset": 0, "total": 0}, "auth": tok}
        elif mode == "r429":
            status, headers, body = 429, {"Retry-After": "0"}, {"message": "Too Many Requests"}
        else:
            body = {"auth": tok, "path": self.path}
        raw = json.dumps(body).encode()
        self.send_response(status)
        for k, v in headers.items(): self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)
    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = handle_one
    def log_message(self, *a): pass
class S(http.server.ThreadingHTTPServer):
    daemon_threads = True
s = S(("127.0.0.1", 0), H)
open(sys.argv[1] + ".tmp", "w").write(str(s.server_address[1]))
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
s.serve_forever()
PY
open(my $pf, '>', "$dir/hostile.py") or die; print $pf $hostile_py; close $pf;
my $hlog = "$dir/hostile.log";
my $hostile = IPC::Run::start([ 'python3', "$dir/hostile.py", "$dir/hostile.port", $hlog ],
	'<', \undef, '>', "$dir/hostile.out", '2>', "$dir/hostile.err");
wait_until(sub { -s "$dir/hostile.port" }, 20, 0.1) or BAIL_OUT('hostile server did not start');
my $HPORT = slurp_file("$dir/hostile.port");
my $ECHO  = "http://127.0.0.1:$HPORT/echo/v2";
my $HANG  = "http://127.0.0.1:$HPORT/hang/v2";
my $R429  = "http://127.0.0.1:$HPORT/r429/v2";
END { my $rc = $?; eval { $hostile->kill_kill } if $hostile; $? = $rc; }
sub hlog { return -e $hlog ? slurp_file($hlog) : ''; }
sub hlog_since { my $all = hlog(); return substr($all, $_[0] // 0); }

my %env  = fake_env();
my $FAKE = $env{WEBFLOW_FAKE_URL};
fake_reset();

# ------------------------------------------------------------------ helpers
my ($attempts, $breaks) = (0, 0);
my @broken;
sub attempt
{
	my ($name, $held, $why) = @_;
	die "attempt '$name': called with " . scalar(@_) . " arguments\n" unless @_ == 3;
	$attempts++;
	unless ($held) { $breaks++; push @broken, $name; diag("BREAK: $name: " . ($why // '')); }
	ok($held, $name);
}

my $node;    # the node the helpers below talk to
sub sql { return $node->safe_psql('postgres', $_[0]); }
sub run_as
{
	my ($user, $sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', $sql,
		extra_params => [ '-U', $user ], on_error_stop => 0, timeout => 120);
	$out //= ''; $err //= '';
	note("[$user] $sql\n=> $out\n$err");
	return ($ret, $out, $err);
}

# live_names(COLLECTION): what a visitor of its site sees (all pages)
sub live_names
{
	my $token = $_[0] eq $POSITIONS ? 'careers-readonly-token' : 'readonly-token';
	return [ sort map { $_->{fieldData}{name} // '' } @{ fake_pages($_[0], token => $token) } ];
}
sub table_names { return [ sort split /\n/, sql(qq{SELECT name FROM $_[0]}) ]; }
sub same_list { my ($a, $b) = @_; return join("\x1f", @$a) eq join("\x1f", @$b); }
sub ext_requests
{
	my ($since, $re) = @_;
	return [ grep { !$_->{actor} && (!$re || $_->{path} =~ $re) } @{ fake_log($since) } ];
}
sub outbox_summary
{
	return sql(q{SELECT coalesce(string_agg(b.source::text || ':' || o.row_key || ':' || o.state || ':' || o.attempts
	  || ':' || coalesce(left(o.last_error, 160), ''), ' | ' ORDER BY o.id), '')
	  FROM webflow.outbox o LEFT JOIN webflow.bindings b ON b.id = o.binding_id});
}
# iso -> epoch seconds, for the fake's log
sub t_of { return iso_epoch($_[0]{time}); }
# smallest gap (s) between consecutive requests of a list
sub min_gap
{
	my @t = sort { $a <=> $b } map { t_of($_) } @{ $_[0] };
	my $min = 1e9;
	$min = ($t[$_] - $t[ $_ - 1 ] < $min ? $t[$_] - $t[ $_ - 1 ] : $min) for 1 .. $#t;
	return $min;
}
# most requests of a list within any window of W seconds
sub max_in_window
{
	my ($reqs, $w) = @_;
	my @t = sort { $a <=> $b } map { t_of($_) } @$reqs;
	my ($best, $j) = (0, 0);
	for my $i (0 .. $#t)
	{
		$j++ while $t[$i] - $t[$j] >= $w;
		$best = $i - $j + 1 if $i - $j + 1 > $best;
	}
	return $best;
}

my $SU_SECRET = 'SU-PROD-SECRET-7e11a9';
my @SECRETS   = ($SU_SECRET, 'careers-token', 'test-token', 'heart-2', 'heart-3', 'bob-revoked-token');

###########################################################################
# Node A: privileges, pins, lifecycle, status
###########################################################################
$node = new_node('pipeattack',
	log_statement       => "'all'",
	log_min_messages    => 'debug1',
	log_error_verbosity => 'verbose');
my $su = sql('SELECT current_user');
fake_admin('POST', '/tokens', { token => 'heart-2', like => 'test-token' });

sql(qq{
CREATE ROLE mallory LOGIN;
CREATE ROLE alice LOGIN;
CREATE ROLE bob LOGIN;
GRANT EXECUTE ON FUNCTION webflow.request(text, text, jsonb, jsonb),
  webflow.list_sites(), webflow.bind(regclass, text, jsonb), webflow.unbind(regclass, text),
  webflow.verify(regclass), webflow.sync(regclass), webflow.drain(integer), webflow.retry(boolean)
  TO mallory, alice, bob;
GRANT USAGE ON FOREIGN DATA WRAPPER webflow TO mallory;
CREATE SCHEMA mallory AUTHORIZATION mallory;
CREATE SCHEMA alice AUTHORIZATION alice;
CREATE SCHEMA bob AUTHORIZATION bob;
-- the superuser's production connection (its host: the echo, to see the token)
CREATE SERVER prod FOREIGN DATA WRAPPER webflow OPTIONS (api_url '$ECHO');
CREATE USER MAPPING FOR CURRENT_USER SERVER prod OPTIONS (token '$SU_SECRET');
-- the careers site, for alice (and the superuser)
CREATE SERVER magrathea FOREIGN DATA WRAPPER webflow OPTIONS (api_url '$FAKE');
CREATE USER MAPPING FOR CURRENT_USER SERVER magrathea OPTIONS (token 'careers-token');
CREATE USER MAPPING FOR alice SERVER magrathea OPTIONS (token 'careers-token');
GRANT USAGE ON FOREIGN SERVER magrathea TO alice;
-- a DBA's SECURITY DEFINER helper, written for the default connection
CREATE FUNCTION public.dba_token_info() RETURNS jsonb LANGUAGE sql SECURITY DEFINER
  SET search_path = pg_catalog AS \$\$ SELECT webflow.request('GET', '/token/introspect') \$\$;
GRANT EXECUTE ON FUNCTION public.dba_token_info() TO mallory, alice, bob;
});

# ---------------------------------------------- 1. bind() checks the caller
{
	my $h0 = length hlog();
	my ($r, $o, $e) = run_as('mallory', qq{CREATE TABLE mallory.t1 (id int PRIMARY KEY, name text NOT NULL);
	  SELECT webflow.bind('mallory.t1', '5aaaaaaaaaaaaaaaaaaaaaa1', '{"connection": "prod"}');});
	my $b = sql(q{SELECT count(*) FROM webflow.bindings WHERE source::text = 'mallory.t1'});
	my $tg = sql(q{SELECT count(*) FROM pg_trigger WHERE tgrelid = 'mallory.t1'::regclass});
	my $cl = sql(q{SELECT count(*) FROM webflow.collection_owners WHERE collection_id = '5aaaaaaaaaaaaaaaaaaaaaa1'});
	attempt('1a bind with a connection the caller has no USAGE on: 42501, nothing changed, nothing sent',
		!!($e =~ /permission denied for webflow connection "prod"/ && $b eq '0' && $tg eq '0' && $cl eq '0'
		  && hlog_since($h0) eq ''), "err=$e bindings=$b triggers=$tg claims=$cl sent=" . hlog_since($h0));

	sql(q{GRANT USAGE ON FOREIGN SERVER prod TO mallory;});
	($r, $o, $e) = run_as('mallory', qq{SELECT webflow.bind('mallory.t1', '5aaaaaaaaaaaaaaaaaaaaaa1', '{"connection": "prod"}');});
	$b = sql(q{SELECT count(*) FROM webflow.bindings WHERE source::text = 'mallory.t1'});
	sql(q{REVOKE USAGE ON FOREIGN SERVER prod FROM mallory;});
	attempt('1b bind with USAGE but no mapping of the caller\'s (the superuser has one): 28000, nothing bound',
		!!($e =~ /no token for role "mallory"/ && $b eq '0' && hlog_since($h0) eq ''), "err=$e bindings=$b");

	# a trigger made by hand naming the connection in its options
	($r, $o, $e) = run_as('mallory', q{CREATE TABLE mallory.t2 (id int PRIMARY KEY, name text NOT NULL);
	  CREATE TRIGGER x AFTER INSERT OR UPDATE OR DELETE ON mallory.t2 FOR EACH ROW
	    EXECUTE FUNCTION webflow.publish_trigger('5aaaaaaaaaaaaaaaaaaaaaa2', '{"connection": "prod"}');
	  INSERT INTO mallory.t2 VALUES (1, 'hand');});
	sleep 1.5;
	my $conn = sql(q{SELECT coalesce(string_agg(coalesce(connection, '(default)'), ','), '') FROM webflow.bindings WHERE source::text = 'mallory.t2'});
	attempt('1c a trigger made by hand with {"connection": "prod"} gets no binding over prod',
		$conn !~ /prod/ && hlog_since($h0) !~ /\Q$SU_SECRET\E/, "binding connection=$conn err=$e sent=" . hlog_since($h0));
	run_as('mallory', q{DROP TABLE mallory.t2;});
}

# ---------- 2. webflow._use_binding_connection, with the README's grant
{
	sql(qq{CREATE TABLE public.su_shop (id int PRIMARY KEY, name text NOT NULL);
	  SELECT webflow.bind('public.su_shop', '5bbbbbbbbbbbbbbbbbbbbbb1', '{"connection": "prod", "live": false}');});
	my $bid = sql(q{SELECT id FROM webflow.bindings WHERE source = 'public.su_shop'::regclass});
	# README "Privileges": "or all of them: GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA webflow TO cms_editor;"
	sql(q{CREATE ROLE cms_editor LOGIN; GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA webflow TO cms_editor;});
	my $h0 = length hlog();
	my ($r, $o, $e) = run_as('cms_editor', qq{BEGIN;
	  SELECT webflow._use_binding_connection($bid);
	  SELECT webflow.request('GET', '/whoami')->>'auth';
	  COMMIT;});
	my $sent = hlog_since($h0);
	attempt('2 a role granted EXECUTE on all webflow functions (README) cannot pin a superuser\'s binding connection',
		$sent !~ /\Q$SU_SECRET\E/ && $o !~ /\Q$SU_SECRET\E/,
		"cms_editor called webflow._use_binding_connection($bid) then webflow.request: got [$o], the echo host got [$sent]");
	sql(q{REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA webflow FROM cms_editor;});
}

# ---- 3. a table owner's cast runs while the superuser's bind/verify pins prod
{
	# mallory's table, with a column of her own type whose cast to json she wrote
	run_as('mallory', q{
	  CREATE TABLE mallory.loot (got text, at timestamptz DEFAULT clock_timestamp());
	  CREATE TABLE mallory.flag (on_ boolean);
	  CREATE TYPE mallory.boomt AS ENUM ('a', 'b');
	  CREATE FUNCTION mallory.boomt_json(v mallory.boomt) RETURNS json LANGUAGE plpgsql AS $$
	  BEGIN
	    IF EXISTS (SELECT 1 FROM mallory.flag) THEN RAISE EXCEPTION 'boom'; END IF;
	    BEGIN
	      INSERT INTO mallory.loot (got) SELECT public.dba_token_info()::text;
	    EXCEPTION WHEN others THEN INSERT INTO mallory.loot (got) VALUES ('error: ' || SQLERRM);
	    END;
	    RETURN pg_catalog.to_json(v::text);
	  END $$;
	  CREATE CAST (mallory.boomt AS json) WITH FUNCTION mallory.boomt_json(mallory.boomt);
	  CREATE TABLE mallory.shop (id int PRIMARY KEY, name text NOT NULL, b mallory.boomt);
	  INSERT INTO mallory.shop VALUES (1, 'one', 'a');
	  TRUNCATE mallory.loot;});
	my $h0 = length hlog();
	# the superuser publishes mallory's shop over prod (its own mapping: bound_by = superuser)
	sql(q{SELECT webflow.bind('mallory.shop', '5cccccccccccccccccccccc1', '{"connection": "prod", "exclude": ["b"], "live": false}');});
	my $loot = sql(q{SELECT coalesce(string_agg(got, ' | '), '') FROM mallory.loot});
	my $intro = join("\n", grep { m{ /token/introspect } } split /\n/, hlog_since($h0));
	attempt('3a the table owner\'s code run by the superuser\'s bind() cannot send with the pinned prod token (via a SECURITY DEFINER helper)',
		$loot !~ /\Q$SU_SECRET\E/ && $intro !~ /\Q$SU_SECRET\E/,
		"mallory.loot=[$loot]; requests the helper made: [$intro]");

	# mallory's own verify() of the table the superuser bound
	sql(q{TRUNCATE mallory.loot});
	$h0 = length hlog();
	run_as('mallory', q{SELECT count(*) FROM webflow.verify('mallory.shop');});
	$loot = sql(q{SELECT coalesce(string_agg(got, ' | '), '') FROM mallory.loot});
	$intro = join("\n", grep { m{ /token/introspect } } split /\n/, hlog_since($h0));
	attempt('3b the table owner\'s cast, run by its own verify(), cannot send with the pinned token of bound_by',
		$loot !~ /\Q$SU_SECRET\E/ && $intro !~ /\Q$SU_SECRET\E/,
		"mallory.loot=[$loot]; requests the helper made: [$intro]");

	# the pin left behind by a verify() that failed after pinning
	sql(q{TRUNCATE mallory.loot});
	$h0 = length hlog();
	my ($r, $o, $e) = run_as('mallory', q{BEGIN;
	  INSERT INTO mallory.flag VALUES (true);
	  DO $$ BEGIN PERFORM * FROM webflow.verify('mallory.shop');
	        EXCEPTION WHEN others THEN RAISE NOTICE 'verify failed: %', SQLERRM; END $$;
	  TRUNCATE mallory.loot;
	  SELECT public.dba_token_info()->>'auth';
	  COMMIT;});
	$intro = join("\n", grep { m{ /token/introspect } } split /\n/, hlog_since($h0));
	attempt('3c a verify() that fails after pinning leaves no pin: a later SECURITY DEFINER helper in the transaction does not get prod\'s token',
		$o !~ /\Q$SU_SECRET\E/ && $intro !~ /\Q$SU_SECRET\E/,
		"dba_token_info() after the caught error returned [$o]; requests: [$intro]");
	run_as('mallory', q{DELETE FROM mallory.flag;});
	sql(q{SELECT webflow.unbind('mallory.shop')});
}

# ---------------- 4. webflow.connection (session, role, database) vs drain()
{
	run_as('mallory', qq{CREATE SERVER evil FOREIGN DATA WRAPPER webflow OPTIONS (api_url '$ECHO');
	  CREATE USER MAPPING FOR PUBLIC SERVER evil OPTIONS (token 'mallory-public');
	  GRANT USAGE ON FOREIGN SERVER evil TO PUBLIC;
	  ALTER ROLE mallory SET webflow.connection = 'evil';});
	sql(qq{ALTER SYSTEM SET webflow.worker_enabled = off; SELECT pg_reload_conf();
	  CREATE TABLE public.jobs (id int PRIMARY KEY, name text NOT NULL);
	  SELECT webflow.bind('public.jobs', '$JOBS');
	  INSERT INTO public.jobs SELECT i, 'Job ' || i FROM generate_series(1, 5) i;});
	my $h0 = length hlog();
	my ($r, $o, $e) = run_as('mallory', q{SET webflow.connection = 'evil'; SELECT webflow.drain();});
	my $sent = hlog_since($h0);
	my $live = live_names($JOBS);
	sql(q{ALTER SYSTEM RESET webflow.worker_enabled; SELECT pg_reload_conf();});
	attempt('4 drain() by a role whose session and role setting say webflow.connection = evil sends nothing to evil',
		$sent eq '' && (grep { /^Job \d$/ } @$live) == 5, "drain=$o err=$e evil got [$sent]; live=[@$live]");
}

# ------------------------------------- 5. budgets: status per binding
{
	sql(qq{CREATE USER MAPPING FOR bob SERVER magrathea OPTIONS (token 'bob-revoked-token');
	  GRANT USAGE ON FOREIGN SERVER magrathea TO bob;
	  UPDATE webflow.collection_owners SET owner = 'alice' WHERE collection_id = '$POSITIONS';});
	run_as('alice', qq{CREATE TABLE alice.pos (id int PRIMARY KEY, name text NOT NULL);
	  SELECT webflow.bind('alice.pos', '$POSITIONS', '{"connection": "magrathea"}');});
	# bob's table feeds the same collection; a superuser binds it, so bob has to rebind as himself
	run_as('bob', q{CREATE TABLE bob.pos (id int PRIMARY KEY, name text NOT NULL);});
	sql(qq{SELECT webflow.bind('bob.pos', '$POSITIONS', '{"connection": "magrathea"}');
	  UPDATE webflow.bindings SET bound_by = 'bob' WHERE source = 'bob.pos'::regclass;});
	run_as('alice', q{INSERT INTO alice.pos SELECT i, 'Alice ' || i FROM generate_series(1, 3) i;});
	run_as('bob', q{INSERT INTO bob.pos VALUES (1001, 'Bob 1001');});
	wait_until(sub { (grep { /^Alice/ } @{ live_names($POSITIONS) }) == 3 }, 15, 0.3);
	wait_for($node, q{SELECT paused_because IS NOT NULL FROM webflow.connections() WHERE connection = 'magrathea' AND paused_because IS NOT NULL LIMIT 1}, 't', 15);
	# alice keeps publishing
	run_as('alice', q{INSERT INTO alice.pos VALUES (4, 'Alice 4');});
	my $alice_ok = wait_until(sub { (grep { /^Alice/ } @{ live_names($POSITIONS) }) == 4 }, 15, 0.3);
	my $st = sql(q{SELECT string_agg(source::text || '=' || coalesce(paused_because, 'none'), ' ; ' ORDER BY source::text)
	  FROM webflow.status WHERE source::text IN ('alice.pos', 'bob.pos')});
	my ($a_st) = $st =~ /alice\.pos=(.*?)(?: ; |$)/;
	my ($b_st) = $st =~ /bob\.pos=(.*?)(?: ; |$)/;
	note("5: alice's rows flowing meanwhile: $alice_ok; status: $st; outbox: " . outbox_summary());
	attempt('5 webflow.status gives each binding of one connection its own reason (bob\'s refused token, alice\'s none)',
		!!(defined $a_st && defined $b_st && $a_st eq 'none' && $b_st =~ /rejected|token/),
		"status: $st");
	run_as('bob', q{DELETE FROM bob.pos;});
	sql(q{SELECT webflow.unbind('bob.pos'); ALTER USER MAPPING FOR bob SERVER magrathea OPTIONS (SET token 'careers-token'); SELECT pg_reload_conf();});
}

# ------------------------------- 6. retry() by a non-superuser and pauses
{
	fake_fault({ match => { path => "^/v2/collections/$POSITIONS/" }, status => 429, retry_after => 60, count => 1000 });
	run_as('alice', q{INSERT INTO alice.pos VALUES (5, 'Alice 5');});
	wait_for($node, q{SELECT count(*) > 0 FROM webflow.connections() WHERE connection = 'magrathea' AND paused_because LIKE '%429%'}, 't', 10);
	my $seq = fake_log_seq();
	run_as('alice', q{SELECT webflow.retry(false);});
	run_as('mallory', q{SELECT webflow.retry(false);});
	sleep 2;
	my $tries = scalar @{ ext_requests($seq, qr{/collections/$POSITIONS/}) };
	my $still = sql(q{SELECT count(*) FROM webflow.connections() WHERE connection = 'magrathea' AND paused_because LIKE '%429%'});
	attempt('6a retry() by non-superusers lifts no 429 pause (no request to the paused site)',
		$tries == 0 && $still ne '0', "requests to the paused site after their retry(): $tries; still paused: $still");
	my $st = sql(q{SELECT coalesce(paused_because, 'none') FROM webflow.status WHERE source = 'alice.pos'::regclass});
	my $jst = sql(q{SELECT coalesce(paused_because, 'none') FROM webflow.status WHERE source = 'public.jobs'::regclass});
	attempt('6b status: alice\'s binding shows the 429, the default connection\'s jobs show none',
		!!($st =~ /429/ && $jst eq 'none'), "alice.pos: $st; jobs: $jst");
	fake_clear_faults();
	sql(q{SELECT pg_reload_conf();});
	attempt('6c a reload lifts the pause and the row arrives',
		wait_until(sub { grep { $_ eq 'Alice 5' } @{ live_names($POSITIONS) } }, 15, 0.3),
		'outbox: ' . outbox_summary());
}

# --------------- 7. DROP SERVER ... CASCADE with rows queued, then back
{
	fake_fault({ match => { path => "^/v2/collections/$POSITIONS/" }, delay_ms => 2500, count => 3 });
	run_as('alice', q{INSERT INTO alice.pos SELECT i, 'Alice ' || i FROM generate_series(6, 12) i;});
	sleep 0.8;
	sql(q{DROP SERVER magrathea CASCADE;});
	run_as('alice', q{INSERT INTO alice.pos VALUES (13, 'Alice 13'); UPDATE alice.pos SET name = 'Alice 1 renamed' WHERE id = 1;});
	sleep 5;
	my $ob = outbox_summary();
	my $bad = sql(q{SELECT count(*) FROM webflow.outbox WHERE state IN ('failed', 'sending') OR attempts > 0});
	my $why = sql(q{SELECT count(*) FROM webflow.outbox o JOIN webflow.bindings b ON b.id = o.binding_id
	  WHERE b.source = 'alice.pos'::regclass AND o.last_error LIKE '%does not exist%'});
	my $stat = sql(q{SELECT coalesce(paused_because, '') || ' / ' || coalesce(last_error, '') FROM webflow.status WHERE source = 'alice.pos'::regclass});
	attempt('7a after DROP SERVER CASCADE the queued rows wait (pending, no attempt), saying why',
		$bad eq '0' && $why ne '0', "outbox: $ob; status: $stat");
	sql(qq{CREATE SERVER magrathea FOREIGN DATA WRAPPER webflow OPTIONS (api_url '$FAKE');
	  CREATE USER MAPPING FOR CURRENT_USER SERVER magrathea OPTIONS (token 'careers-token');
	  CREATE USER MAPPING FOR alice SERVER magrathea OPTIONS (token 'careers-token');
	  GRANT USAGE ON FOREIGN SERVER magrathea TO alice;});
	my $ok = wait_until(sub { same_list(live_names($POSITIONS), table_names('alice.pos')) }, 70, 0.5);
	attempt('7b with the server back the site equals the table (nothing lost, nothing doubled)',
		$ok, 'live=[' . join(',', @{ live_names($POSITIONS) }) . '] table=[' . join(',', @{ table_names('alice.pos') }) . '] outbox: ' . outbox_summary());
}

# -------- 8. the binding's server renamed away: a squatter takes its name
{
	fake_fault({ match => { path => "^/v2/collections/$POSITIONS/" }, status => 503, count => 1000 });
	run_as('alice', q{INSERT INTO alice.pos VALUES (14, 'Alice 14 salary 250k');});
	sleep 1.5;
	sql(q{ALTER SERVER magrathea RENAME TO magrathea_old;});
	my $h0 = length hlog();
	run_as('mallory', qq{CREATE SERVER magrathea FOREIGN DATA WRAPPER webflow OPTIONS (api_url '$ECHO');
	  CREATE USER MAPPING FOR PUBLIC SERVER magrathea OPTIONS (token 'mallory-token');
	  GRANT USAGE ON FOREIGN SERVER magrathea TO alice;});
	sql(q{SELECT webflow.retry(false);});
	fake_clear_faults();
	wait_until(sub { hlog_since($h0) =~ /POST/ }, 8, 0.3);
	my $got = hlog_since($h0);
	attempt('8 a role that takes a renamed server\'s name does not receive the bindings\' rows (alice.pos bound to "magrathea")',
		$got !~ /collections\/$POSITIONS/, "mallory's host got: [$got]");
	run_as('mallory', q{DROP SERVER magrathea CASCADE;});
	sql(q{ALTER SERVER magrathea_old RENAME TO magrathea; SELECT webflow.retry(false);});
	wait_until(sub { same_list(live_names($POSITIONS), table_names('alice.pos')) }, 30, 0.5);
}

# ------------ 9. DROP ROLE of the binder (REASSIGN / DROP OWNED) with rows queued
{
	fake_fault({ match => { path => "^/v2/collections/$POSITIONS/" }, status => 503, count => 1000 });
	run_as('alice', q{INSERT INTO alice.pos SELECT i, 'Alice ' || i FROM generate_series(20, 24) i;});
	sleep 1;
	sql(q{REASSIGN OWNED BY alice TO bob; DROP OWNED BY alice; DROP ROLE alice;
	  CREATE USER MAPPING FOR bob SERVER magrathea OPTIONS (token 'careers-token');
	  GRANT USAGE ON FOREIGN SERVER magrathea TO bob;});
	fake_clear_faults();
	sql(q{SELECT webflow.retry(false);});
	sleep 4;
	my $ob = outbox_summary();
	my $lost = sql(q{SELECT count(*) FROM webflow.outbox}) eq '0'
	  && !same_list(live_names($POSITIONS), table_names('alice.pos'));
	my $why = sql(q{SELECT count(*) FROM webflow.outbox WHERE last_error LIKE '%no longer exists%' AND state = 'pending'});
	attempt('9a with the binder dropped its queued rows wait with the reason (not lost, not failed)',
		!$lost && ($why ne '0' || same_list(live_names($POSITIONS), table_names('alice.pos'))), "outbox: $ob");
	run_as('bob', qq{SELECT webflow.bind('alice.pos', '$POSITIONS', '{"connection": "magrathea"}');});
	my $ok = wait_until(sub { same_list(live_names($POSITIONS), table_names('alice.pos')) }, 40, 0.5);
	attempt('9b bound again by the new owner, the site equals the table',
		$ok, 'live=[' . join(',', @{ live_names($POSITIONS) }) . '] table=[' . join(',', @{ table_names('alice.pos') }) . '] outbox: ' . outbox_summary());
}

# ------ 10. rebinding to another connection while rows wait on a pause
{
	sql(qq{CREATE SERVER heart FOREIGN DATA WRAPPER webflow OPTIONS (api_url '$FAKE');
	  CREATE USER MAPPING FOR CURRENT_USER SERVER heart OPTIONS (token 'heart-2');});
	fake_fault({ match => { path => "^/v2/collections/$JOBS/" }, status => 429, retry_after => 15, count => 1 });
	sql(q{INSERT INTO public.jobs SELECT i, 'Job ' || i FROM generate_series(6, 10) i;});
	wait_for($node, q{SELECT count(*) > 0 FROM webflow.connections() WHERE connection = '' AND paused_because LIKE '%429%'}, 't', 10);
	sql(qq{SELECT webflow.bind('public.jobs', '$JOBS', '{"connection": "heart"}');});
	my $t0 = time;
	my $ok = wait_until(sub { same_list([ grep { /^Job/ } @{ live_names($JOBS) } ], table_names('public.jobs')) }, 12, 0.3);
	my $st = sql(q{SELECT coalesce(paused_because, 'none') || ' / ' || coalesce(last_error, '') FROM webflow.status WHERE source = 'public.jobs'::regclass})
	  . ' / outbox: ' . sql(q{SELECT coalesce(string_agg(DISTINCT o.last_error, ' '), '') FROM webflow.outbox o JOIN webflow.bindings b ON b.id = o.binding_id WHERE b.source = 'public.jobs'::regclass});
	note(sprintf("10: rows moved to the new connection in %.1f s: %s; status: %s", time - $t0, $ok ? 'yes' : 'no', $st));
	attempt('10 rows queued on a paused connection go over the connection the table is rebound to (or say why they wait)',
		!!($ok || $st =~ /429|wait/i), "status: $st; outbox: " . outbox_summary());
	wait_until(sub { same_list([ grep { /^Job/ } @{ live_names($JOBS) } ], table_names('public.jobs')) }, 30, 0.5);
}

# -------------- 11. the worker killed mid-flight with two connections busy
{
	fake_fault([ { match => { method => 'POST', path => "^/v2/collections/$POSITIONS/" }, delay_ms => 1500, count => 2 },
		{ match => { method => 'POST', path => "^/v2/collections/$JOBS/" }, delay_ms => 1500, count => 2 } ]);
	my $seq = fake_log_seq();
	sql(q{INSERT INTO public.jobs SELECT i, 'Job ' || i FROM generate_series(11, 30) i;});
	run_as('bob', q{INSERT INTO alice.pos SELECT i, 'Bob ' || i FROM generate_series(30, 49) i;});
	wait_until(sub { @{ ext_requests($seq, qr{/items}) } >= 1 }, 10, 0.05);
	sleep 0.5;
	my $pid = worker_pid($node);
	kill 'KILL', $pid if $pid;
	sleep 1;
	wait_until(sub { $node->psql('postgres', 'SELECT 1') == 0 }, 30, 0.3);
	my $ok = wait_until(sub {
			same_list([ grep { /^Job/ } @{ live_names($JOBS) } ], table_names('public.jobs'))
			  && same_list(live_names($POSITIONS), table_names('alice.pos')) }, 60, 0.5);
	my %n;
	$n{$_}++ for (@{ live_names($JOBS) }, @{ live_names($POSITIONS) });
	my @dup = grep { $n{$_} > 1 } sort keys %n;
	attempt('11 worker killed (SIGKILL) mid-flight on two connections: both sites equal their tables, no duplicate',
		$ok && !@dup, "killed $pid; duplicates: [@dup]; outbox: " . outbox_summary());
}

# ------------------------------------ 12. secrets in views, errors and logs
{
	my $views = sql(q{SELECT coalesce(string_agg(s::text, ' '), '') FROM webflow.status s})
	  . sql(q{SELECT coalesce(string_agg(c::text, ' '), '') FROM webflow.connections() c})
	  . sql(q{SELECT webflow.worker_status()::text});
	my @in_views = grep { $views =~ /\Q$_\E/ } @SECRETS;
	attempt('12a no token in webflow.status, webflow.connections(), worker_status()', !@in_views, "found: @in_views");
	my @lines = grep { my $l = $_; grep { $l =~ /\Q$_\E/ } ($SU_SECRET, 'careers-token', 'heart-2', 'bob-revoked-token') }
	  split /\n/, slurp_file($node->logfile);
	my @bad = grep { !/USER MAPPING|mallory-token|\/tokens/ } @lines;
	attempt('12b no token in the server log beyond the logged USER MAPPING statements', !@bad, join("\n", @bad[0 .. ($#bad < 5 ? $#bad : 5)]));
}
$node->stop;
fake_reset();

###########################################################################
# Node B: budgets per token, eviction, fairness
###########################################################################
my $R = 120;    # per minute and token: one request every 0.5 s
fake_admin('POST', '/tokens', { token => 'heart-2', like => 'test-token' });
fake_admin('POST', '/tokens', { token => 'heart-3', like => 'test-token' });
$node = new_node('pipebudget',
	'webflow.rate_limit'      => $R,
	'webflow.batch_size'      => 1,
	'webflow.max_connections' => 2,
	'webflow.timeout'         => "'4s'");
sql(qq{
CREATE ROLE mallory LOGIN;
GRANT USAGE ON FOREIGN DATA WRAPPER webflow TO mallory;
GRANT EXECUTE ON FUNCTION webflow.bind(regclass, text, jsonb), webflow.unbind(regclass, text) TO mallory;
CREATE SCHEMA mallory AUTHORIZATION mallory;
CREATE SERVER heart2 FOREIGN DATA WRAPPER webflow OPTIONS (api_url '$FAKE');
CREATE USER MAPPING FOR CURRENT_USER SERVER heart2 OPTIONS (token 'heart-2');
CREATE SERVER magrathea FOREIGN DATA WRAPPER webflow OPTIONS (api_url '$FAKE');
CREATE USER MAPPING FOR CURRENT_USER SERVER magrathea OPTIONS (token 'careers-token');
CREATE TABLE jobs (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE books (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE positions (id int PRIMARY KEY, name text NOT NULL);
SELECT webflow.bind('jobs', '$JOBS');
SELECT webflow.bind('books', '$BOOKS', '{"connection": "heart2"}');
SELECT webflow.bind('positions', '$POSITIONS', '{"connection": "magrathea"}');
});

# ---- 13. three tokens, two budget slots: is each token still paced?
{
	my $mc = sql(q{SHOW webflow.max_connections});
	attempt('13a webflow.max_connections = 2 in postgresql.conf takes effect (also webflow.database_name, set the same way)',
		$mc eq '2', "SHOW webflow.max_connections gives $mc: the server log says "
		  . join(' ', grep { /webflow\.max_connections/ } split /\n/, slurp_file($node->logfile))
		  . ' (without it, 13b and 14 below test no eviction at all)');
	my $seq = fake_log_seq();
	sql(q{BEGIN;
	      INSERT INTO jobs SELECT i, 'Job ' || i FROM generate_series(1, 8) i;
	      INSERT INTO books SELECT i, 'Book ' || i FROM generate_series(1, 8) i;
	      INSERT INTO positions SELECT i, 'Position ' || i FROM generate_series(1, 8) i;
	      COMMIT;});
	wait_until(sub { @{ ext_requests($seq, qr{/items}) } >= 24 }, 20, 0.2);
	my %per;
	for my $c ([ 'jobs', $JOBS ], [ 'books', $BOOKS ], [ 'positions', $POSITIONS ])
	{
		my $reqs = ext_requests($seq, qr{/collections/$c->[1]/items});
		$per{ $c->[0] } = sprintf('%d requests, most in 1 s: %d, smallest gap %.3f s',
			scalar @$reqs, max_in_window($reqs, 1), min_gap($reqs));
	}
	my $worst = 0;
	for my $c ($JOBS, $BOOKS, $POSITIONS)
	{
		my $m = max_in_window(ext_requests($seq, qr{/collections/$c/items}), 1);
		$worst = $m if $m > $worst;
	}
	note('13: ' . join('; ', map { "$_: $per{$_}" } sort keys %per) . '; budgets: '
		  . sql(q{SELECT string_agg(connection || ' requests=' || requests, ', ') FROM webflow.connections()}));
	# R = 120: at most 2 (3 with the idle allowance) requests of one token in any second
	attempt('13b more tokens than webflow.max_connections: each token stays within its rate (no burst)',
		$worst <= 3, join('; ', map { "$_: $per{$_}" } sort keys %per));
}

# ---- 14. a paused token whose budget is evicted: hammered during its pause?
{
	wait_for($node, q{SELECT count(*) FROM webflow.outbox}, '0', 30);
	fake_fault({ match => { path => "^/v2/collections/$POSITIONS/" }, status => 429, retry_after => 60, count => 1000 });
	sql(q{INSERT INTO positions VALUES (100, 'Position 100');});
	# (with more tokens than budgets, the budget may be named for another connection)
	wait_for($node, q{SELECT paused_because LIKE '%429%' FROM webflow.status WHERE source = 'positions'::regclass}, 't', 10);
	my $seq = fake_log_seq();
	for my $i (1 .. 6)
	{
		sql(qq{INSERT INTO jobs VALUES (100 + $i, 'Job x$i'); INSERT INTO books VALUES (100 + $i, 'Book x$i');
		  INSERT INTO positions VALUES (100 + $i, 'Position x$i');});
		sleep 0.7;
	}
	sleep 1;
	my $hits = scalar @{ ext_requests($seq, qr{/collections/$POSITIONS/}) };
	my $st = sql(q{SELECT coalesce(paused_because, 'none') FROM webflow.status WHERE source = 'positions'::regclass});
	note("14: requests to the paused site: $hits; status: $st; outbox: " . outbox_summary());
	attempt('14a a token paused by a 429 (Retry-After 60) gets no request during its pause, even when its budget slot is reused',
		$hits == 0, "requests to the paused site in 5 s: $hits");
	attempt('14b and webflow.status still says why its rows wait', !!($st =~ /429/), "status: $st");
	fake_clear_faults();
	sql(q{SELECT pg_reload_conf();});
	wait_for($node, q{SELECT count(*) FROM webflow.outbox}, '0', 40);
}

# ---- 15/16: same token over two connections (restart with enough slots)
$node->append_conf('postgresql.conf', "webflow.max_connections = 16\n");
$node->restart;
{
	# mallory may read the PUBLIC token of shared (USAGE); she makes a server of her own with it
	sql(qq{CREATE SERVER shared FOREIGN DATA WRAPPER webflow OPTIONS (api_url '$FAKE', rate_limit '$R');
	  CREATE USER MAPPING FOR PUBLIC SERVER shared OPTIONS (token 'heart-3');
	  GRANT USAGE ON FOREIGN SERVER shared TO mallory;
	  CREATE TABLE authors (id int PRIMARY KEY, name text NOT NULL);
	  SELECT webflow.bind('authors', '$AUTHORS', '{"connection": "shared"}');});
	run_as('mallory', qq{CREATE SERVER fast FOREIGN DATA WRAPPER webflow OPTIONS (api_url '$FAKE', rate_limit '100000');
	  CREATE USER MAPPING FOR mallory SERVER fast OPTIONS (token 'heart-3');
	  CREATE TABLE mallory.tags (id int PRIMARY KEY, name text NOT NULL);
	  SELECT webflow.bind('mallory.tags', '$TAGS', '{"connection": "fast"}');});
	my $seq = fake_log_seq();
	sql(q{INSERT INTO authors SELECT i, 'Author ' || i FROM generate_series(1, 10) i;});
	run_as('mallory', q{INSERT INTO mallory.tags SELECT i, 'Tag ' || i FROM generate_series(1, 10) i;});
	wait_until(sub { @{ ext_requests($seq, qr{/items}) } >= 20 }, 20, 0.2);
	my $reqs = ext_requests($seq, qr{/collections/($AUTHORS|$TAGS)/items});
	my $m = max_in_window($reqs, 2);
	attempt('15 a role\'s own server (rate_limit 100000) sharing a token with another connection keeps the token\'s budget',
		$m <= 6, sprintf('token heart-3: %d requests, most in 2 s: %d (R = %d/min: 4, 5 with the idle allowance); min gap %.3f s',
			scalar @$reqs, $m, $R, min_gap($reqs)));

	(my $alias = $FAKE) =~ s/127\.0\.0\.1/localhost/;
	sql(qq{CREATE SERVER alias FOREIGN DATA WRAPPER webflow OPTIONS (api_url '$alias');
	  CREATE USER MAPPING FOR CURRENT_USER SERVER alias OPTIONS (token 'test-token');
	  SELECT webflow.unbind('books');
	  SELECT webflow.bind('books', '$BOOKS', '{"connection": "alias"}');});
	wait_for($node, q{SELECT count(*) FROM webflow.outbox}, '0', 30);
	$seq = fake_log_seq();
	sql(q{BEGIN;
	      INSERT INTO jobs SELECT i, 'Job ' || i FROM generate_series(200, 209) i;
	      INSERT INTO books SELECT i, 'Book ' || i FROM generate_series(200, 209) i;
	      COMMIT;});
	wait_until(sub { @{ ext_requests($seq, qr{/items}) } >= 20 }, 20, 0.2);
	$reqs = ext_requests($seq, qr{/collections/($JOBS|$BOOKS)/items});
	$m = max_in_window($reqs, 2);
	attempt('16 one token over two spellings of the same API URL (127.0.0.1, localhost) shares one budget',
		$m <= 6, sprintf('test-token: %d requests, most in 2 s: %d (R = %d/min: 4, 5 with the idle allowance)',
			scalar @$reqs, $m, $R));
}

# ---- 17. a role's connection that hangs: does it stall the other sites?
{
	sql(q{ALTER SERVER magrathea OPTIONS (ADD rate_limit '600');});
	run_as('mallory', qq{CREATE SERVER slow FOREIGN DATA WRAPPER webflow OPTIONS (api_url '$HANG');
	  CREATE USER MAPPING FOR mallory SERVER slow OPTIONS (token 'mallory-slow');
	  CREATE TABLE mallory.slowt (id int PRIMARY KEY, name text NOT NULL);
	  SELECT webflow.bind('mallory.slowt', '5dddddddddddddddddddddd1', '{"connection": "slow"}');});
	wait_for($node, q{SELECT count(*) FROM webflow.outbox}, '0', 30);
	run_as('mallory', q{INSERT INTO mallory.slowt VALUES (0, 'slow 0');});
	sleep 0.5;
	my $t0 = time;
	# 30 positions at 600/min: 3 s at their connection's full budget
	sql(q{INSERT INTO positions SELECT i, 'Position ' || i FROM generate_series(300, 329) i;});
	my $done;
	for my $i (1 .. 40)
	{
		run_as('mallory', qq{INSERT INTO mallory.slowt VALUES ($i, 'slow $i');});
		if (sql(q{SELECT count(*) FROM webflow.outbox o JOIN webflow.bindings b ON b.id = o.binding_id
		          WHERE b.source = 'positions'::regclass}) eq '0') { $done = time - $t0; last; }
		sleep 0.4;
	}
	attempt('17 a role\'s hanging API URL (timeout 4 s) does not hold up another site (30 rows, 3 s at its budget)',
		defined $done && $done < 8,
		defined $done ? sprintf('the 30 positions took %.1f s', $done) : sprintf('the 30 positions were not all sent within %.0f s', time - $t0));
	run_as('mallory', q{SELECT webflow.unbind('mallory.slowt');});
	wait_for($node, q{SELECT count(*) FROM webflow.outbox}, '0', 30);
}

# ---- 18. a role's connection answering 429 with Retry-After: 0
{
	run_as('mallory', qq{CREATE SERVER r429 FOREIGN DATA WRAPPER webflow OPTIONS (api_url '$R429', rate_limit '100000');
	  CREATE USER MAPPING FOR mallory SERVER r429 OPTIONS (token 'mallory-429');
	  CREATE TABLE mallory.busy (id int PRIMARY KEY, name text NOT NULL);
	  SELECT webflow.bind('mallory.busy', '5eeeeeeeeeeeeeeeeeeeeee1', '{"connection": "r429"}');
	  INSERT INTO mallory.busy VALUES (1, 'busy');});
	sleep 1;
	my $t0 = time;
	sql(q{INSERT INTO jobs SELECT i, 'Job ' || i FROM generate_series(400, 405) i;});
	my $ok = wait_until(sub { sql(q{SELECT count(*) FROM webflow.outbox o JOIN webflow.bindings b ON b.id = o.binding_id
		          WHERE b.source = 'jobs'::regclass}) eq '0' }, 12, 0.3);
	my $n429 = () = hlog() =~ /^r429 POST/mg;
	attempt('18 a role\'s connection answering 429 Retry-After: 0 does not stall the worker (other site\'s 6 rows within 12 s)',
		$ok, sprintf('jobs still queued after %.1f s; requests the worker sent to the 429 host: %d', time - $t0, $n429));
	# free the worker if it is stuck in that loop
	my $pid = worker_pid($node);
	run_as('mallory', q{SELECT webflow.unbind('mallory.busy');});
	sql(qq{SELECT pg_terminate_backend($pid)}) if $pid;
	wait_for($node, q{SELECT count(*) FROM webflow.outbox}, '0', 30);
}

$node->stop;
my $elapsed = time - $t_start;
note(sprintf('elapsed %.0f s', $elapsed));
diag("connection-pipeline-attack: $attempts attempts, $breaks breaks" . (@broken ? ' (' . join('; ', @broken) . ')' : ''));
note("connection-pipeline-attack: $attempts attempts, $breaks breaks");
done_testing();
