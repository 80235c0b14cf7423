# t/WebflowTest.pm: helpers shared by the TAP tests of the publish worker.
#
#   use WebflowTest;
#   start_fake();                       # test/services start (no Prism unless prism => 1)
#   my $node = new_node('name', 'webflow.naptime' => '60s');
#   fake_reset(); fake_fault({status => 500, count => 2});
#   wait_for($node, $sql, $expected);   # bounded poll, 30 s by default
#   wait_fake_items($collection, 5000); # bounded poll of GET /_admin/items
#   my ($status, $body) = fake_api('PATCH', "/collections/$c/items/$id/live", {...});
#   my $items = fake_pages($collection, live => 1);   # every page, public API
#
# Every wait is bounded in time and every loop in count.  The services are
# stopped at END (the nodes are stopped by PostgreSQL::Test::Cluster).
package WebflowTest;

use strict;
use warnings;

use Exporter 'import';
use HTTP::Tiny;
use JSON::PP;
use Time::HiRes ();
use Time::Local ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

our @EXPORT = qw(
  start_fake fake_env fake_admin fake_reset fake_fault fake_clear_faults
  fake_log fake_log_seq fake_items fake_live_items fake_stats fake_config
  new_node wait_for wait_until wait_fake_items worker_status worker_pid
  iso_epoch api_requests slurp_log_since fake_api fake_pages
  attack_attempt attack_summary psql_try key_log_sql fake_collection
  drain_queue live_item_names site_matches_on extension_catalog
  $SITE $JOBS $BOOKS $AUTHORS $TAGS
);

our $SITE    = '580e63e98c9a982ac9b8b741';
our $JOBS    = '580e63fc8c9a982ac9b8b745';
our $BOOKS   = '580e63fc8c9a982ac9b8b746';
our $AUTHORS = '580e63fc8c9a982ac9b8b747';
our $TAGS    = '580e63fc8c9a982ac9b8b748';

my $root = $ENV{TESTDIR} || '.';
my $services;    # directory of the running services, once started
my %env;         # WEBFLOW_FAKE_URL, WEBFLOW_PRISM_URL, WEBFLOW_FAKE_ADMIN
my $http = HTTP::Tiny->new(timeout => 60, keep_alive => 1);
my $json = JSON::PP->new->utf8->canonical;
my ($attack_attempts, $attack_breaks) = (0, 0);
my $attack_t0 = Time::HiRes::time();

# start_fake(prism => 1): starts the fake (and the spec proxy when asked);
# returns the env hash.  Idempotent.
sub start_fake
{
	my %opts = @_;
	return %env if $services;
	my $dir = PostgreSQL::Test::Utils::tempdir();
	local $ENV{WITHOUT_PRISM} = $opts{prism} ? '' : 1;
	if (system('bash', "$root/test/services", 'start', $dir) != 0)
	{
		BAIL_OUT('could not start test/services') unless $opts{prism};
		# the spec proxy is optional: go on with the fake alone
		diag('could not start the spec proxy: going on without it');
		$ENV{WITHOUT_PRISM} = 1;
		system('bash', "$root/test/services", 'start', $dir) == 0
		  or BAIL_OUT('could not start test/services');
	}
	$services = $dir;
	%env = map { /^(\w+)=(.*)$/ ? ($1 => $2) : () }
	  split /\n/, slurp_file("$dir/env");
	return %env;
}

END
{
	local $?;    # keep the test's exit status
	system('bash', "$root/test/services", 'stop', $services) if $services;
}

sub fake_env { start_fake() unless $services; return %env; }

# fake_admin(METHOD, PATH, BODY): calls /_admin/PATH, returns the decoded answer
sub fake_admin
{
	my ($method, $path, $body) = @_;
	start_fake() unless $services;
	my %req = (headers => { 'content-type' => 'application/json' });
	$req{content} = $json->encode($body) if defined $body;
	my $res = $http->request($method, "$env{WEBFLOW_FAKE_ADMIN}$path", \%req);
	die "fake admin $method $path: $res->{status} $res->{reason} $res->{content}\n"
	  unless $res->{success};
	return length($res->{content} // '') ? $json->decode($res->{content}) : undef;
}

sub fake_reset        { fake_admin('POST', '/reset') }
sub fake_fault        { fake_admin('POST', '/faults', $_[0]) }
sub fake_clear_faults { fake_admin('DELETE', '/faults') }
sub fake_stats        { fake_admin('GET', '/stats') }
sub fake_config       { fake_admin('POST', '/config', $_[0]) }

# fake_log(SINCE): the API requests logged after sequence number SINCE
sub fake_log
{
	my ($since) = @_;
	return fake_admin('GET', '/log' . ($since ? "?since=$since" : ''));
}

# fake_log_seq(): the sequence number of the last logged request (0 if none)
sub fake_log_seq
{
	my $log = fake_log();
	return @$log ? $log->[-1]{seq} : 0;
}

# api_requests(SINCE, METHOD, PATH_REGEX): logged requests that match
sub api_requests
{
	my ($since, $method, $path_re) = @_;
	return [ grep {
			(!$method || $_->{method} eq $method)
			  && (!$path_re || $_->{path} =~ $path_re)
	} @{ fake_log($since) } ];
}

# fake_api(METHOD, PATH, BODY, token => T, actor => A): a request to the
# fake's public API (PATH under /v2) made by the test itself: it carries the
# header X-Fake-Actor (A, default "test"), so the fake's injected faults
# pass it by, and the token T (default test-token).  Returns (status,
# decoded body or undef); a connection error is status 599.  Never dies.
my $api_http = HTTP::Tiny->new(timeout => 30, keep_alive => 1);

sub fake_api
{
	my ($method, $path, $body, %o) = @_;
	start_fake() unless $services;
	my %req = (headers => {
			'content-type'  => 'application/json',
			accept          => 'application/json',
			authorization   => 'Bearer ' . ($o{token} // 'test-token'),
			'x-fake-actor'  => $o{actor} // 'test' });
	$req{content} = $json->encode($body) if defined $body;
	my $res = $api_http->request($method, "$env{WEBFLOW_FAKE_URL}$path", \%req);
	my $data = eval { length($res->{content} // '') ? $json->decode($res->{content}) : undef };
	return ($res->{status}, $data);
}

# fake_collection(SLUG_PREFIX, NAME, FIELDS...): a new collection of the
# fake's site ("NAME n", slug "SLUG_PREFIX-n", n counting the collections
# this test made), with a PlainText "description" field and FIELDS, made
# as the designer; returns its id.
my $collections_made = 0;
sub fake_collection
{
	my ($prefix, $name, @fields) = @_;
	$collections_made++;
	my ($st, $c) = fake_api('POST', "/sites/$SITE/collections", {
			displayName  => "$name $collections_made",
			singularName => "$name $collections_made",
			slug         => "$prefix-$collections_made",
			fields       => [ { type => 'PlainText', displayName => 'Description', slug => 'description' }, @fields ] },
		actor => 'designer');
	die "could not create a collection: $st\n" unless $st == 200 && $c->{id};
	return $c->{id};
}

# fake_pages(COLLECTION, live => 1, token => T): every item of every page of
# List Live Items (live => 1, the default) or List Items (live => 0),
# read through the public API as a client would (read-only token by
# default); dies if a page cannot be read or the pages do not add up.
sub fake_pages
{
	my ($coll, %o) = @_;
	my $live = $o{live} // 1;
	my @items;
	my $offset = 0;
	for my $page (1 .. 1000)
	{
		my ($status, $d) = fake_api('GET',
			"/collections/$coll/items" . ($live ? '/live' : '') . "?limit=100&offset=$offset",
			undef, token => $o{token} // 'readonly-token', actor => $o{actor} // 'oracle');
		die "List " . ($live ? 'Live ' : '') . "Items of $coll at offset $offset: $status\n"
		  unless $status == 200 && ref $d eq 'HASH' && ref $d->{items} eq 'ARRAY';
		push @items, @{ $d->{items} };
		$offset += @{ $d->{items} };
		last if !@{ $d->{items} } || $offset >= ($d->{pagination}{total} // 0);
	}
	return \@items;
}

# live_item_names(COLLECTION): the names of its live items (every page), as a
# site visitor sees them
sub live_item_names
{
	return [ map { $_->{fieldData}{name} // '' } @{ fake_pages($_[0], live => 1) } ];
}

# site_matches_on(NODE, TABLE, COLLECTION, db => DB, where => COND):
# whether every row of TABLE (its name column; in database DB, postgres by
# default; those for which COND holds) is live exactly once (a name that
# several rows have, as many times) and nothing else is live, and a description (counts, up to five names of each kind
# that differ)
sub site_matches_on
{
	my ($node, $table, $coll, %o) = @_;
	my @live = @{ live_item_names($coll) };
	my @want = split /\|/, $node->safe_psql($o{db} // 'postgres',
		qq{SELECT coalesce(string_agg(name, '|'), '') FROM $table} . ($o{where} ? " WHERE $o{where}" : ''));
	# (each name as many times live as rows have it: two rows may share one)
	my (%seen, %want);
	$seen{$_}++ for @live;
	$want{$_}++ for @want;
	my @bad = grep { ($seen{$_} // 0) != $want{$_} } sort keys %want;
	my @extra = grep { !$want{$_} } @live;
	my $ok = !@bad && !@extra && scalar(@live) == scalar(@want);
	my $d = scalar(@live) . ' live for ' . scalar(@want) . ' rows'
	  . (@bad ? '; not live once per row: ' . join('|', @bad[0 .. ($#bad < 4 ? $#bad : 4)]) : '')
	  . (@extra ? '; live without a row: ' . join('|', @extra[0 .. ($#extra < 4 ? $#extra : 4)]) : '');
	return ($ok, $d);
}

# extension_catalog(NODE, DB): the extension's objects and their
# definitions as the catalog has them (functions, relations with their
# effective grants and replica identity, columns, indexes, constraints,
# triggers, event triggers), one per line, sorted: to compare an updated
# or upgraded install with a fresh one
sub extension_catalog
{
	my ($node, $db) = @_;
	return $node->safe_psql($db, q{
SELECT string_agg(d, E'\n' ORDER BY d) FROM (
  SELECT 'function ' || p.oid::regprocedure || ' ' || pg_get_function_result(p.oid) || ' '
         || l.lanname || ' secdef=' || p.prosecdef || ' ' || coalesce(array_to_string(p.proconfig, ','), '')
         || ' ' || md5(p.prosrc) || ' acl=' || coalesce(p.proacl, acldefault('f', p.proowner))::text
         || ' ' || coalesce(obj_description(p.oid, 'pg_proc'), '') AS d
  FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
  WHERE p.pronamespace = 'webflow'::regnamespace
  UNION ALL
  SELECT 'relation ' || c.relname || ' ' || c.relkind::text || ' acl=' || coalesce(c.relacl, acldefault(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char", c.relowner))::text
         || ' ' || coalesce(obj_description(c.oid, 'pg_class'), '') || ' ri=' || c.relreplident::text
  FROM pg_class c WHERE c.relnamespace = 'webflow'::regnamespace
  UNION ALL
  SELECT 'column ' || a.attrelid::regclass || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
         || ' ' || a.attnotnull || ' ' || coalesce(pg_get_expr(ad.adbin, ad.adrelid), '')
         || ' ' || coalesce(col_description(a.attrelid, a.attnum), '')
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
  LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
  WHERE c.relnamespace = 'webflow'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
  UNION ALL
  SELECT 'index ' || pg_get_indexdef(i.indexrelid)
  FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE c.relnamespace = 'webflow'::regnamespace
  UNION ALL
  SELECT 'constraint ' || conrelid::regclass || ' ' || pg_get_constraintdef(oid)
  FROM pg_constraint WHERE connamespace = 'webflow'::regnamespace
  UNION ALL
  SELECT 'trigger ' || tgname || ' ' || pg_get_triggerdef(t.oid)
  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE c.relnamespace = 'webflow'::regnamespace
  UNION ALL
  SELECT 'event trigger ' || evtname || ' ' || evtevent || ' ' || evtfoid::regproc::text || ' '
         || evtenabled::text || ' ' || coalesce(array_to_string(evttags, ','), '') FROM pg_event_trigger
  UNION ALL
  SELECT 'sequence ' || seqrelid::regclass || ' ' || seqincrement || ' ' || seqcache || ' ' || seqcycle
  FROM pg_sequence WHERE seqrelid::regclass::text LIKE 'webflow.%'
  UNION ALL
  SELECT 'extconfig ' || coalesce(array_to_string(ARRAY(SELECT x::regclass::text FROM unnest(extconfig) x ORDER BY 1), ','), '')
  FROM pg_extension WHERE extname = 'webflow'
  UNION ALL
  SELECT 'member ' || pg_describe_object(classid, objid, objsubid)
  FROM pg_depend WHERE refclassid = 'pg_extension'::regclass AND deptype = 'e'
    AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'webflow')
) s});
}

# drain_queue(NODE, TRIES): drain() until no change but failed ones is
# queued (packed ones included), at most TRIES (60) passes; whether the queue emptied
sub drain_queue
{
	my ($node, $tries) = @_;
	my $q = q{SELECT (SELECT count(*) FROM webflow.outbox WHERE state <> 'failed')
	  + (SELECT count(*) FROM webflow.outbox_packed)};
	for (1 .. ($tries // 60))
	{
		return 1 if $node->safe_psql('postgres', $q) eq '0';
		my $n = $node->safe_psql('postgres', 'SELECT webflow.drain()');
		Time::HiRes::sleep(0.3) if $n eq '0';
	}
	return $node->safe_psql('postgres', $q) eq '0';
}

# fake_items(COLLECTION): every item of a collection at the fake
sub fake_items { return fake_admin('GET', "/items?collection=$_[0]"); }

# fake_live_items(COLLECTION): the items that have a live version
sub fake_live_items { return [ grep { $_->{isLive} } @{ fake_items($_[0]) } ]; }

# new_node(NAME, setting => value, ...): an initialized, started cluster with
# webflow preloaded and CREATE EXTENSION webflow done in database postgres
# (unless create_extension => 0).
sub new_node
{
	my ($name, %extra) = @_;
	start_fake() unless $services;
	my $create = exists $extra{create_extension} ? delete $extra{create_extension} : 1;
	my $url = delete $extra{api_url} // $env{WEBFLOW_FAKE_URL};
	my %conf = (
		shared_preload_libraries => "'webflow'",
		'webflow.token'          => "'test-token'",
		'webflow.api_url'        => "'$url'",
		'webflow.naptime'        => "'1s'",
		'webflow.rate_limit'     => 100000,
		log_min_messages         => 'warning',
		log_error_verbosity      => 'default',
		restart_after_crash      => 'on',
		max_worker_processes     => 16,
		%extra);
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf',
		join('', map { "$_ = $conf{$_}\n" } sort keys %conf));
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION webflow') if $create;
	return $node;
}

# wait_until(CODE, TIMEOUT, INTERVAL): calls CODE until it returns true, at
# most TIMEOUT seconds (default 30); returns whether it did.
sub wait_until
{
	my ($code, $timeout, $interval) = @_;
	$timeout  //= 30;
	$interval //= 0.1;
	my $deadline = Time::HiRes::time() + $timeout;
	my $max      = int($timeout / $interval) + 2;
	for (my $i = 0; $i < $max; $i++)
	{
		return 1 if $code->();
		last if Time::HiRes::time() > $deadline;
		Time::HiRes::sleep($interval);
	}
	return 0;
}

# wait_for(NODE, SQL, EXPECTED, TIMEOUT): polls SQL in database postgres
# until it returns EXPECTED; returns whether it did (diag shows the last
# value otherwise).
sub wait_for
{
	my ($node, $sql, $expected, $timeout) = @_;
	my $last;
	my $ok = wait_until(
		sub {
			my ($stdout, $stderr);
			$node->psql('postgres', $sql, stdout => \$stdout, stderr => \$stderr);
			$last = $stdout;
			return defined $stdout && $stdout eq $expected;
		},
		$timeout // 30, 0.1);
	diag("wait_for: '$sql' still gives '" . ($last // '(error)') . "', not '$expected'")
	  unless $ok;
	return $ok;
}

# wait_fake_items(COLLECTION, COUNT, TIMEOUT): waits until the fake holds
# COUNT items in the collection; returns whether it does.
sub wait_fake_items
{
	my ($collection, $count, $timeout) = @_;
	my $n;
	my $ok = wait_until(sub { $n = scalar @{ fake_items($collection) }; $n == $count },
		$timeout // 30, 0.5);
	diag("wait_fake_items: $n items in $collection, not $count") unless $ok;
	return $ok;
}

# worker_status(NODE): webflow.worker_status() as a hash
sub worker_status
{
	my ($node) = @_;
	return $json->decode(
		$node->safe_psql('postgres', 'SELECT webflow.worker_status()'));
}

# worker_pid(NODE): the worker's pid from worker_status(), or '' if none
sub worker_pid
{
	my ($node) = @_;
	my ($out, $err);
	$node->psql('postgres', "SELECT coalesce(webflow.worker_status()->>'pid', '')",
		stdout => \$out, stderr => \$err);
	return $out // '';
}

# iso_epoch('2024-01-01T00:00:00.123Z'): seconds since the epoch
sub iso_epoch
{
	my ($s) = @_;
	$s =~ /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?Z$/
	  or die "not an ISO time: $s";
	return Time::Local::timegm($6, $5, $4, $3, $2 - 1, $1) + ($7 ? "0.$7" : 0);
}

# slurp_log_since(NODE, OFFSET): the server log from byte OFFSET on
sub slurp_log_since
{
	my ($node, $offset) = @_;
	my $log = slurp_file($node->logfile);
	return substr($log, $offset // 0);
}

# attack_attempt(OK, NAME): one attempt of an attack test at breaking a
# guarantee; a failing check is a break.  Prints whether it held.
sub attack_attempt
{
	my ($ok, $name) = @_;
	$attack_attempts++;
	$attack_breaks++ unless $ok;
	diag(($ok ? 'held:  ' : 'BROKE: ') . $name);
	ok($ok, $name);
	return $ok;
}

# attack_summary(LABEL): prints "LABEL: N attempts, M breaks, S s".
sub attack_summary
{
	diag(sprintf('%s: %d attempts, %d breaks, %.0f s', $_[0], $attack_attempts,
		$attack_breaks, Time::HiRes::time() - $attack_t0));
}

# psql_try(NODE, SQL): "ok", or "error: " and psql's error text without its
# line prefixes
sub psql_try
{
	my ($node, $sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', $sql);
	return 'ok' if $ret == 0;
	$err =~ s/^psql:<stdin>:\d+: //mg;
	return "error: $err";
}

# key_log_sql(COLLECTION): the SQL of the key attacks' verdict: bindt(table,
# options, key columns) attaches the publish trigger (a_wf, to COLLECTION)
# by hand and a PL/pgSQL logger (b_log) recording what the outbox should
# hold from webflow._row_key(to_jsonb(OLD/NEW), keys) and to_jsonb(NEW);
# bindp(table, options) the publish trigger only; the view mismatch
# compares the outbox with the log as multisets (op, key, image as text and
# the byte length of each top-level value, sig()); ops(table) lists a
# table's outbox rows in order
sub key_log_sql
{
	my ($collection) = @_;
	return <<"SQL";
CREATE TABLE public.explog (id bigserial, tbl text, op text, key text, image jsonb);
CREATE FUNCTION public.explog_trg() RETURNS trigger LANGUAGE plpgsql AS \$\$
DECLARE keys text[] := TG_ARGV[1]::text[]; o jsonb; n jsonb;
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN o := to_jsonb(OLD); END IF;
  IF TG_OP IN ('UPDATE', 'INSERT') THEN n := to_jsonb(NEW); END IF;
  IF TG_OP = 'DELETE' THEN
    INSERT INTO public.explog (tbl, op, key) VALUES (TG_ARGV[0], 'delete', webflow._row_key(o, keys));
  ELSIF TG_OP = 'INSERT' THEN
    INSERT INTO public.explog (tbl, op, key, image) VALUES (TG_ARGV[0], 'upsert', webflow._row_key(n, keys), n);
  ELSIF o::text IS DISTINCT FROM n::text THEN
    IF webflow._row_key(o, keys) IS DISTINCT FROM webflow._row_key(n, keys) THEN
      INSERT INTO public.explog (tbl, op, key) VALUES (TG_ARGV[0], 'delete', webflow._row_key(o, keys));
    END IF;
    INSERT INTO public.explog (tbl, op, key, image) VALUES (TG_ARGV[0], 'upsert', webflow._row_key(n, keys), n);
  END IF;
  RETURN NULL;
END \$\$;
CREATE FUNCTION public.bindt(t regclass, opts text, keys text[]) RETURNS void LANGUAGE plpgsql AS \$\$
BEGIN
  EXECUTE format('CREATE TRIGGER a_wf AFTER INSERT OR UPDATE OR DELETE ON %s FOR EACH ROW EXECUTE FUNCTION webflow.publish_trigger(%L, %L)', t, '$collection', opts);
  EXECUTE format('CREATE TRIGGER b_log AFTER INSERT OR UPDATE OR DELETE ON %s FOR EACH ROW EXECUTE FUNCTION public.explog_trg(%L, %L)', t, t::text, keys::text);
END \$\$;
-- bindp(table, options): the publish trigger only
CREATE FUNCTION public.bindp(t regclass, opts text) RETURNS void LANGUAGE plpgsql AS \$\$
BEGIN
  EXECUTE format('CREATE TRIGGER a_wf AFTER INSERT OR UPDATE OR DELETE ON %s FOR EACH ROW EXECUTE FUNCTION webflow.publish_trigger(%L, %L)', t, '$collection', opts);
END \$\$;
CREATE FUNCTION public.sig(j jsonb) RETURNS text LANGUAGE sql IMMUTABLE AS
  \$\$ SELECT string_agg(key || ':' || coalesce(octet_length(value), -1), ',' ORDER BY key) FROM jsonb_each_text(j) \$\$;
CREATE VIEW public.mismatch AS
WITH a AS (SELECT b.source::regclass::text tbl, o.op, o.row_key AS key, o.row_image::text img, sig(o.row_image) sig
           FROM webflow.outbox o JOIN webflow.bindings b ON b.id = o.binding_id),
     e AS (SELECT tbl, op, key, image::text img, sig(image) sig FROM public.explog)
(SELECT 'outbox' side, * FROM (SELECT * FROM a EXCEPT ALL SELECT * FROM e) x)
UNION ALL (SELECT 'expected', * FROM (SELECT * FROM e EXCEPT ALL SELECT * FROM a) y);
-- ops(table): the table's outbox rows in order, "op key; ..."
CREATE FUNCTION public.ops(t text) RETURNS text LANGUAGE sql AS \$\$
  SELECT coalesce(string_agg(o.op || ' ' || left(o.row_key, 50), '; ' ORDER BY o.id), '')
  FROM webflow.outbox o JOIN webflow.bindings b ON b.id = o.binding_id WHERE b.source::regclass::text = t \$\$;
SQL
}

1;
