# t/080_hostile_role.pl: a hostile role against the privilege model.
#
# mallory is a LOGIN role with EXECUTE on webflow.bind, unbind, sync, retry
# and drain (so that she can publish her OWN tables) and CREATE on schema
# public.  alice owns a table bound to the Jobs collection, with rows that
# carry a secret; the superuser owns a table mallory may not read.  mallory
# plants code everywhere PostgreSQL lets a non-superuser plant it (casts to
# json and jsonb of her enum, range and domain types, and of arrays and
# composites of them; defaults, generated columns, CHECK and domain
# constraints, index expressions, RLS policies, triggers, a table turned
# into a view; functions and operators in public that shadow pg_catalog's
# for sessions whose search_path puts public first, some of them lying
# "true" to privilege checks; temporary views named like the extension's
# tables; SECURITY DEFINER functions and triggers that others call; option
# values, table names and collection ids made to break quoting), then
# drives every code path that could run that code: her own writes, the
# superuser's and alice's writes, bind() again, sync() by her and by the
# superuser, drain(), TRUNCATE, and the background worker.
#
# Each planted function calls public.hr_note(), which records (planted
# object, attempt, phase, current_user, session_user, superuser?) both in
# the table public.evidence and as a WARNING in the server log (so that
# evidence survives a rollback), reads webflow.token if it can, and tries
# ALTER ROLE mallory SUPERUSER and GRANT <current_user> TO mallory.
#
# One ok() per attempt.  An attempt fails when, after it:
#   - mallory is a superuser, has another role attribute or a membership;
#   - her code ran as any role other than mallory, except in a "direct:X"
#     phase where role X itself wrote to mallory's table (PostgreSQL's own
#     semantics: a writer runs the table owner's casts, defaults and
#     triggers; hr_note then records only and does not escalate);
#   - something she planted reports that a forbidden action SUCCEEDED;
#   - the token appeared in anything she (or trudy, a pg_read_all_settings
#     member) saw, or in the evidence table she can read;
#   - she saw alice's or the superuser's secret rows;
#   - alice's bindings, triggers, rows, queued changes, item map or her
#     items at Webflow changed (unless alice changed them herself);
#   - a table neither mallory nor alice owns (the extension's tables,
#     catalogs, the superuser's table) got bound or a publish trigger;
#   - a secret reached a collection other than alice's.
# Webflow-side routes count too: mallory's rows must not overwrite or
# delete the items of alice's rows (a collection she feeds, or fed before
# she unbound her table), and a temporary table (its binding would outlive
# it) cannot be bound.  The end says "hostile-role: N attempts, M
# escalations".
#
# Every session of the superuser here runs with search_path = pg_catalog
# alone: with public anywhere in it, mallory's public.=(oid, regclass) or
# public.format(text, text) would win every match pg_catalog has no exact
# operator or function for, and the harness itself would run her code.
use strict;
use warnings;
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use FindBin;
use lib $FindBin::RealBin;
use WebflowTest;

my $root = $ENV{TESTDIR} || '.';
my $t_start = time;

my $token        = 'wfsecret-hostile-3b9d7e1f5a2c4e6081d3f5a7b9c1e2d4';
my $alice_secret = 'ALICE-SECRET-5d1e8c0a';
my $admin_secret = 'ADMIN-SECRET-9a7f3b2e';

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
	'hostile',
	'webflow.token'   => "'$token'",
	'webflow.naptime' => "'1s'");
my $su = $node->safe_psql('postgres', 'SELECT current_user');

# ---------------------------------------------------------------------
# sessions
# ---------------------------------------------------------------------
sub ql { my $s = shift; $s =~ s/'/''/g; return "'$s'"; }
sub qi { my $s = shift; $s =~ s/"/""/g; return "\"$s\""; }

my $current = '';    # the attempt running
my $base    = 0;     # its row ids start above this
my $seen    = '';    # everything mallory (and trudy) saw during it

# fill(SQL): the collection ids and the attempt's row ids (__B<n>__)
sub fill
{
	my ($s) = @_;
	$s =~ s/__TAGS__/$TAGS/g;
	$s =~ s/__JOBS__/$JOBS/g;
	$s =~ s/__AUTHORS__/$AUTHORS/g;
	$s =~ s/__B(\d+)__/$base + $1/ge;
	return $s;
}

# admin(SQL): as the superuser, search_path pg_catalog alone (with public
# in the path, mallory's public.=(oid, regclass) or public.format(text,
# text) would run for every non-exact match); dies on error
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

# what mallory's sessions start with: her search_path (public first, so
# that her functions and operators shadow pg_catalog's) and temporary
# views named like the extension's tables
my $mallory_preamble = q{
SET search_path = public, pg_catalog;
CREATE TEMP VIEW bindings AS SELECT 0 AS id, 0::oid::regclass AS source, 'x'::text AS collection_id,
  '{}'::jsonb AS options, '{}'::text[] AS key_columns, 'epoch'::timestamptz AS created_at,
  NULL::timestamptz AS last_success, NULL::text AS last_error, NULL::timestamptz AS last_error_at
  WHERE public.hr_note('pg_temp.bindings');
CREATE TEMP VIEW outbox AS SELECT 0::bigint AS id, 0 AS binding_id, 'upsert'::text AS op, '1'::text AS row_key,
  NULL::jsonb AS row_image, 'epoch'::timestamptz AS enqueued_at, 0 AS attempts,
  'epoch'::timestamptz AS next_attempt_at, 'pending'::text AS state, NULL::timestamptz AS claimed_at,
  false AS maybe_sent, NULL::text AS last_error, NULL::integer AS last_status
  WHERE public.hr_note('pg_temp.outbox');
CREATE TEMP VIEW items AS SELECT 'x'::text AS collection_id, '1'::text AS source_key, 'x'::text AS item_id,
  NULL::text AS slug, NULL::text AS payload_hash, NULL::timestamptz AS last_published, NULL::text AS cms_locale_id
  WHERE public.hr_note('pg_temp.items');
CREATE TEMP VIEW collection_fields AS SELECT 'x'::text AS collection_id, 'name'::text AS slug, NULL::text AS field_id,
  NULL::text AS display_name, 'PlainText'::text AS type, false AS is_required, true AS is_editable,
  NULL::jsonb AS validations, 'epoch'::timestamptz AS refreshed_at
  WHERE public.hr_note('pg_temp.collection_fields');
};
my $arsenal_ready = 0;

# run_as(USER, PHASE, SQL, OPTS): one psql session, errors do not stop it;
# returns (ret, out, err).  keep_path: mallory's search_path is her role's.
sub run_as
{
	my ($user, $phase, $sql, %o) = @_;
	my $pre = 'SET hostile.phase = ' . ql($phase) . ";\nSET hostile.attempt = " . ql($current) . ";\n";
	if ($user eq 'mallory')
	{
		my $p = $mallory_preamble;
		$p =~ s/^SET search_path[^\n]*\n//m if $o{keep_path};
		$pre .= $p if $arsenal_ready;
	}
	elsif ($user eq $su)
	{
		$pre .= "SET search_path = pg_catalog;\n" unless $o{keep_path};
	}
	my ($ret, $out, $err) = $node->psql('postgres', $pre . fill($sql),
		extra_params => [ '-U', $user ],
		on_error_stop => 0,
		timeout => 120);
	$out //= '';
	$err //= '';
	$seen .= "$out\n$err\n" if $user eq 'mallory' || $user eq 'trudy';
	return ($ret, $out, $err);
}
sub mallory { return run_as('mallory', 'mallory', @_); }

# ---------------------------------------------------------------------
# the cast of the play
# ---------------------------------------------------------------------
admin(q{
CREATE TABLE public.evidence (
    id bigserial PRIMARY KEY, planted text, attempt text, phase text,
    cur name, sess name, is_super boolean, token text, escalation text,
    at timestamptz DEFAULT clock_timestamp());
GRANT SELECT, INSERT ON public.evidence TO PUBLIC;
GRANT USAGE ON SEQUENCE public.evidence_id_seq TO PUBLIC;

CREATE ROLE mallory LOGIN;
CREATE ROLE alice LOGIN;
CREATE ROLE trudy LOGIN;
GRANT pg_read_all_settings TO trudy;
GRANT CREATE ON SCHEMA public TO mallory;
GRANT EXECUTE ON FUNCTION webflow.bind(regclass, text, jsonb), webflow.unbind(regclass, text),
    webflow.sync(regclass), webflow.retry(boolean), webflow.drain(integer) TO mallory, alice;
CREATE SCHEMA alice AUTHORIZATION alice;

CREATE TABLE public.admin_secrets (id int PRIMARY KEY, name text NOT NULL);
INSERT INTO public.admin_secrets VALUES (1, '} . $admin_secret . q{');
REVOKE ALL ON public.admin_secrets FROM PUBLIC;
});

my ($ret, $out, $err) = run_as('alice', 'alice-own', qq{
GRANT USAGE ON SCHEMA alice TO PUBLIC;
CREATE TABLE alice.posts (id int PRIMARY KEY, name text NOT NULL, department text);
SELECT webflow.bind('alice.posts', '$JOBS');
INSERT INTO alice.posts VALUES (1, 'Alice One', '$alice_secret one'), (2, 'Alice Two', '$alice_secret two'),
    (3, '!!!', 'fails: no slug');
});
is($ret, 0, 'alice binds her table and writes her rows') or diag($err);
ok(wait_until(sub { scalar(@{ fake_items($JOBS) }) == 2 }, 30, 0.2), "alice's two rows are published");
ok( wait_for(
		$node,
		q{SELECT count(*) FROM webflow.outbox o JOIN webflow.bindings b ON b.id = o.binding_id
          WHERE b.source = 'alice.posts'::regclass AND o.state = 'failed'},
		'1', 30),
	"alice's row that cannot become an item failed");
my %trigger_baseline = map { $_ => 1 } split /\n/, admin(q{
SELECT t.tgname || E'\t' || t.tgrelid::regclass::text FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
WHERE NOT t.tgisinternal AND c.relowner NOT IN ('mallory'::regrole, 'alice'::regrole)});

# mallory's arsenal: hr_note, the shadowing functions and operators
sub evil_fn
{
	my ($name, $args, $ret, $planted, $expr, %o) = @_;
	my $vol = $o{volatility} // 'VOLATILE';
	my $sec = $o{definer} ? ' SECURITY DEFINER' : '';
	my $body = $o{body} // "RETURN $expr;";
	return "CREATE FUNCTION public.$name($args) RETURNS $ret LANGUAGE plpgsql $vol$sec "
	  . "SET search_path = pg_catalog, pg_temp AS \$f\$ BEGIN PERFORM public.hr_note("
	  . ql($planted) . "); $body END \$f\$;\n";
}

my $arsenal = q{
CREATE FUNCTION public.hr_note(planted text) RETURNS boolean
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $f$
DECLARE
    ph text := coalesce(current_setting('hostile.phase', true), '');
    att text := coalesce(current_setting('hostile.attempt', true), '');
    legit boolean;
    tok text;
    su boolean;
    leak boolean := false;
    esc text := '';
BEGIN
    -- a role that wrote to mallory's table runs her code: PostgreSQL's
    -- semantics, recorded but not exploited
    legit := ph OPERATOR(pg_catalog.=) ('direct:' OPERATOR(pg_catalog.||) current_user::text);
    su := (SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) current_user);
    IF NOT legit THEN
        BEGIN
            tok := current_setting('webflow.token', true);
        EXCEPTION WHEN OTHERS THEN
            tok := NULL;
        END;
        leak := tok IS NOT NULL AND tok OPERATOR(pg_catalog.<>) '' AND tok OPERATOR(pg_catalog.<>) '********';
    END IF;
    IF NOT legit THEN
        BEGIN
            EXECUTE 'ALTER ROLE mallory SUPERUSER';
            esc := 'ALTER ROLE mallory SUPERUSER worked';
        EXCEPTION WHEN OTHERS THEN
            esc := 'ALTER ROLE refused: ' OPERATOR(pg_catalog.||) SQLERRM;
        END;
        IF current_user OPERATOR(pg_catalog.<>) 'mallory' THEN
            BEGIN
                EXECUTE pg_catalog.format('GRANT %I TO mallory', current_user);
                esc := esc OPERATOR(pg_catalog.||) pg_catalog.format(', GRANT %I TO mallory worked', current_user);
            EXCEPTION WHEN OTHERS THEN
                esc := esc OPERATOR(pg_catalog.||) ', GRANT refused: ' OPERATOR(pg_catalog.||) SQLERRM;
            END;
        END IF;
    END IF;
    esc := pg_catalog.translate(esc, E'|\n', '/ ');
    RAISE WARNING 'HOSTILE-EVIDENCE|%|%|%|%|%|%|%|%|', planted, att, ph, current_user, session_user, su, leak, esc;
    BEGIN
        INSERT INTO public.evidence (planted, attempt, phase, cur, sess, is_super, token, escalation)
        VALUES (planted, att, ph, current_user, session_user, su, tok, esc);
    EXCEPTION WHEN OTHERS THEN
        NULL;
    END;
    RETURN true;
END
$f$;
GRANT EXECUTE ON FUNCTION public.hr_note(text) TO PUBLIC;
};

# functions of public that shadow pg_catalog's when public comes first:
# they log, then answer truthfully ...
my @truthful = (
	[ 'to_jsonb',           'v anyelement',                  'jsonb',   'pg_catalog.to_jsonb(v)' ],
	[ 'to_json',            'v anyelement',                  'json',    'pg_catalog.to_json(v)' ],
	[ 'row_to_json',        'v record',                      'json',    'pg_catalog.row_to_json(v)' ],
	[ 'jsonb_build_object', 'a text, b anyelement',          'jsonb',   'pg_catalog.jsonb_build_object(a, b)' ],
	[ 'jsonb_build_object', 'a text, b text',                'jsonb',   'pg_catalog.jsonb_build_object(a, b)' ],
	[ 'format',             'a text, b text',                'text',    'pg_catalog.format(a, b)' ],
	[ 'format',             'a text, b regclass',            'text',    'pg_catalog.format(a, b)' ],
	[ 'format',             'a text, b name, c regclass',    'text',    'pg_catalog.format(a, b, c)' ],
	[ 'format',             'a text, b text, c regclass, d text, e text', 'text', 'pg_catalog.format(a, b, c, d, e)' ],
	[ 'nextval',            'a regclass',                    'bigint',  'pg_catalog.nextval(a)' ],
	[ 'nextval',            'a text',                        'bigint',  'pg_catalog.nextval(a)' ],
	[ 'jsonb_typeof',       'a jsonb',                       'text',    'pg_catalog.jsonb_typeof(a)' ],
	[ 'jsonb_array_length', 'a jsonb',                       'integer', 'pg_catalog.jsonb_array_length(a)' ],
	[ 'quote_ident',        'a text',                        'text',    'pg_catalog.quote_ident(a)' ],
	[ 'quote_literal',      'a text',                        'text',    'pg_catalog.quote_literal(a)' ],
	[ 'quote_literal',      'a anyelement',                  'text',    'pg_catalog.quote_literal(a)' ],
	[ 'current_setting',    'a text',                        'text',    'pg_catalog.current_setting(a)' ],
	[ 'current_setting',    'a text, b boolean',             'text',    'pg_catalog.current_setting(a, b)' ],
	[ 'set_config',         'a text, b text, c boolean',     'text',    'pg_catalog.set_config(a, b, c)' ],
	[ 'lower',              'a text',                        'text',    'pg_catalog.lower(a)' ],
	[ 'length',             'a text',                        'integer', 'pg_catalog.length(a)' ],
	[ 'replace',            'a text, b text, c text',        'text',    'pg_catalog.replace(a, b, c)' ],
	[ 'array_to_string',    'a anyarray, b text',            'text',    'pg_catalog.array_to_string(a, b)' ],
	[ 'array_length',       'a anyarray, b integer',         'integer', 'pg_catalog.array_length(a, b)' ],
	[ 'now',                '',                              'timestamptz', 'pg_catalog.now()' ],
	[ 'pg_try_advisory_lock', 'a integer, b integer',        'boolean', 'pg_catalog.pg_try_advisory_lock(a, b)' ],
	[ 'pg_advisory_unlock', 'a integer, b integer',          'boolean', 'pg_catalog.pg_advisory_unlock(a, b)' ],
);
# ... or lie "true" to privilege checks
my @lying = (
	[ 'pg_has_role',            'a name, b oid, c text' ],
	[ 'pg_has_role',            'a name, b name, c text' ],
	[ 'pg_has_role',            'a oid, b oid, c text' ],
	[ 'pg_has_role',            'a oid, c text' ],
	[ 'pg_has_role',            'a name, c text' ],
	[ 'pg_has_role',            'a text, b oid, c text' ],
	[ 'has_table_privilege',    'a name, b oid, c text' ],
	[ 'has_table_privilege',    'a oid, b oid, c text' ],
	[ 'has_table_privilege',    'a oid, c text' ],
	[ 'has_table_privilege',    'a text, c text' ],
	[ 'has_table_privilege',    'a name, b text, c text' ],
	[ 'has_function_privilege', 'a oid, c text' ],
	[ 'has_function_privilege', 'a name, b oid, c text' ],
);
for my $f (@truthful)
{
	my ($name, $args, $ret, $expr) = @$f;
	$arsenal .= evil_fn("\"$name\"", $args, $ret, "shadow:$name($args)", $expr);
}
for my $f (@lying)
{
	my ($name, $args) = @$f;
	$arsenal .= evil_fn("\"$name\"", $args, 'boolean', "shadow-lie:$name($args)", 'true');
}
$arsenal .= q{
CREATE FUNCTION public.jsonb_object_keys(a jsonb) RETURNS SETOF text LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $f$ BEGIN PERFORM public.hr_note('shadow:jsonb_object_keys(jsonb)');
RETURN QUERY SELECT pg_catalog.jsonb_object_keys(a); END $f$;
CREATE FUNCTION public.jsonb_array_elements(a jsonb) RETURNS SETOF jsonb LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $f$ BEGIN PERFORM public.hr_note('shadow:jsonb_array_elements(jsonb)');
RETURN QUERY SELECT pg_catalog.jsonb_array_elements(a); END $f$;
};

# operators of public: logging truthful ones, and lying ones on oids
my @ops = (
	[ '=',   'text',        'text',        'boolean', 'pg_catalog.texteq(a, b)' ],
	[ '<>',  'text',        'text',        'boolean', 'pg_catalog.textne(a, b)' ],
	[ '~',   'text',        'text',        'boolean', 'pg_catalog.textregexeq(a, b)' ],
	[ '!~',  'text',        'text',        'boolean', 'pg_catalog.textregexne(a, b)' ],
	[ '||',  'text',        'text',        'text',    'pg_catalog.textcat(a, b)' ],
	[ '?',   'jsonb',       'text',        'boolean', 'pg_catalog.jsonb_exists(a, b)' ],
	[ '->',  'jsonb',       'text',        'jsonb',   'pg_catalog.jsonb_object_field(a, b)' ],
	[ '->>', 'jsonb',       'text',        'text',    'pg_catalog.jsonb_object_field_text(a, b)' ],
	[ '=',   'jsonb',       'jsonb',       'boolean', 'pg_catalog.jsonb_eq(a, b)' ],
	[ '=',   'text[]',      'text[]',      'boolean', 'pg_catalog.array_eq(a, b)' ],
	[ '=',   'integer',     'integer',     'boolean', 'pg_catalog.int4eq(a, b)' ],
	[ '=',   'bigint',      'bigint',      'boolean', 'pg_catalog.int8eq(a, b)' ],
	[ '<=',  'timestamptz', 'timestamptz', 'boolean', 'pg_catalog.timestamptz_le(a, b)' ],
	[ '=',   'oid',         'oid',         'boolean', 'true' ],
	[ '=',   'regclass',    'regclass',    'boolean', 'true' ],
	[ '=',   'regclass',    'oid',         'boolean', 'true' ],
	[ '=',   'oid',         'regclass',    'boolean', 'true' ],
	[ '=',   'name',        'name',        'boolean', 'true' ],
	[ '=',   'name',        'text',        'boolean', 'true' ],
);
my $opn = 0;
for my $o (@ops)
{
	my ($op, $l, $r, $ret, $expr) = @$o;
	my $fn = 'hr_op_' . $opn++;
	my $kind = $expr eq 'true' ? 'shadow-lie' : 'shadow';
	$arsenal .= evil_fn($fn, "a $l, b $r", $ret, "$kind:operator $op($l,$r)", $expr);
	$arsenal .= "CREATE OPERATOR public.$op (LEFTARG = $l, RIGHTARG = $r, FUNCTION = public.$fn);\n";
}
($ret, $out, $err) = run_as('mallory', 'mallory', $arsenal);
is($ret, 0, 'mallory plants hr_note and her shadowing functions and operators in public') or diag($err);
$arsenal_ready = 1;

# the arsenal is live: in a session of hers, a comparison of two texts and
# a format() of a name go to her operator and function, and are recorded
my $live0 = admin_q(q{SELECT coalesce(max(id), 0) FROM public.evidence});
mallory(q{SELECT 'x'::text = 'x'::text, format('%I', 'x'::name);});
is(admin_q(qq{SELECT string_agg(DISTINCT planted, ', ' ORDER BY planted) FROM public.evidence
              WHERE id > $live0 AND cur = 'mallory'}),
	'shadow:format(a text, b text), shadow:operator =(text,text)',
	'her shadowing operator and function are picked in her sessions, and hr_note records them');

# the options that make a table of others pass bind()'s field mapping
# check against Tags: the key, one column as the name, the rest excluded
sub target_opts
{
	my ($rel, $key, $namecol) = @_;
	my @cols = split /\n/, admin(qq{SELECT attname FROM pg_attribute
        WHERE attrelid = '$rel'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum});
	my %k = map { $_ => 1 } (ref $key ? @$key : ($key));
	my @exclude = grep { !$k{$_} && $_ ne $namecol } @cols;
	return $json->encode({ key => $key, fields => { $namecol => 'name' }, exclude => \@exclude });
}
my %target = (
	'webflow.outbox'            => target_opts('webflow.outbox', 'id', 'op'),
	'webflow.items'             => target_opts('webflow.items', [ 'collection_id', 'source_key' ], 'item_id'),
	'webflow.bindings'          => target_opts('webflow.bindings', 'id', 'collection_id'),
	'webflow.collection_fields' => target_opts('webflow.collection_fields', [ 'collection_id', 'slug' ], 'type'),
	'pg_catalog.pg_authid'      => target_opts('pg_catalog.pg_authid', 'oid', 'rolname'),
	'pg_catalog.pg_class'       => target_opts('pg_catalog.pg_class', 'oid', 'relname'),
	'information_schema.sql_features' =>
	  target_opts('information_schema.sql_features', [ 'feature_id', 'sub_feature_id' ], 'feature_name'),
	'public.admin_secrets' => '{}',
);
my @targets = sort { ($a eq 'webflow.outbox') <=> ($b eq 'webflow.outbox') || $a cmp $b } keys %target;

# ---------------------------------------------------------------------
# the oracle
# ---------------------------------------------------------------------
my ($n_attempts, $n_escalations) = (0, 0);
my %reported;         # evidence already charged to an attempt
my $settle_slow = 0;  # the worker stopped keeping up: wait less

# wait_settled: the worker (and drains) have handled every due change
sub wait_settled
{
	my $ok = wait_until(
		sub {
			admin_q(q{SELECT count(*) FROM webflow.outbox
                      WHERE state = 'sending' OR (state = 'pending' AND next_attempt_at <= now())})
			  eq '0';
		},
		$settle_slow ? 3 : 20, 0.2);
	$settle_slow = 1 unless $ok;
	return $ok;
}

# evidence(ID0, LOG0): evidence rows after table id ID0 and log byte LOG0
sub evidence
{
	my ($id0, $log0) = @_;
	my @ev;
	my $rows = admin_q(qq{SELECT planted, attempt, phase, cur, sess, is_super,
            coalesce(position(@{[ql($token)]} in token) > 0, false), translate(escalation, '|', '/'), 'table#' || id
        FROM public.evidence WHERE id > $id0 ORDER BY id});
	for my $line (split /\n/, $rows)
	{
		my @f = split /\|/, $line, -1;
		next unless @f >= 9;
		my $where = pop @f;
		my $esc   = pop @f;
		my $leak  = pop @f;
		my $sup   = pop @f;
		my $sess  = pop @f;
		my $cur   = pop @f;
		my $phase = pop @f;
		my $att   = pop @f;
		push @ev, { planted => join('|', @f), attempt => $att, phase => $phase, cur => $cur,
			sess => $sess, super => $sup, leak => $leak eq 't', esc => $esc, where => $where };
	}
	my $log = slurp_log_since($node, $log0);
	while ($log =~ /WARNING:  HOSTILE-EVIDENCE\|([^|\n]*)\|([^|\n]*)\|([^|\n]*)\|([^|\n]*)\|([^|\n]*)\|([^|\n]*)\|([^|\n]*)\|([^|\n]*)\|/g)
	{
		next if $1 eq '%';
		push @ev, { planted => $1, attempt => $2, phase => $3, cur => $4, sess => $5,
			super => $6, leak => $7 eq 't', esc => $8, where => 'log' };
	}
	return @ev;
}

# bad_evidence(E): why an evidence row shows an escalation, or undef
sub bad_evidence
{
	my ($e) = @_;
	my $ctx = "'$e->{planted}' (attempt '$e->{attempt}', phase '$e->{phase}', "
	  . "current_user $e->{cur}, session_user $e->{sess})";
	my @why;
	push @why, "her code ran as $e->{cur}"
	  unless $e->{cur} eq 'mallory' || $e->{phase} eq "direct:$e->{cur}";
	push @why, 'a forbidden action succeeded' if $e->{planted} =~ /SUCCEEDED/;
	push @why, 'her code read webflow.token' if $e->{leak};
	push @why, "made her superuser ($e->{esc})" if ($e->{esc} // '') =~ /worked/;
	return @why ? join(' and ', @why) . ": $ctx" : undef;
}
sub ev_key { my $e = shift; return join '|', @$e{qw(planted attempt phase cur sess)}; }

# mallory_roles: her attributes and memberships, '' when she has none
sub mallory_roles
{
	return admin_q(q{
SELECT concat_ws(' ',
    CASE WHEN rolsuper THEN 'SUPERUSER' END, CASE WHEN rolcreaterole THEN 'CREATEROLE' END,
    CASE WHEN rolcreatedb THEN 'CREATEDB' END, CASE WHEN rolreplication THEN 'REPLICATION' END,
    CASE WHEN rolbypassrls THEN 'BYPASSRLS' END,
    (SELECT string_agg('member of ' || m.roleid::regrole::text, ' ') FROM pg_auth_members m
     WHERE m.member = r.oid))
FROM pg_roles r WHERE rolname = 'mallory'});
}

sub restore_mallory
{
	my $roles = admin_q(q{SELECT string_agg(roleid::regrole::text, ', ')
                          FROM pg_auth_members WHERE member = 'mallory'::regrole});
	admin('ALTER ROLE mallory NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS');
	admin("REVOKE $roles FROM mallory") if $roles ne '';
}

# alice_state(IDS): her binding, triggers, rows, queued changes, item map,
# her memberships, and at Webflow the items her item map names (and those
# of IDS, the item ids of an earlier state, so that an item whose map row
# went is still looked at)
sub alice_state
{
	my ($ids) = @_;
	my $s = admin_q(q{
SELECT 'bindings: ' || coalesce(string_agg(collection_id || ' ' || options::text || ' ' || key_columns::text, '; '
       ORDER BY collection_id), '') FROM webflow.bindings WHERE source = 'alice.posts'::regclass;
SELECT 'triggers: ' || coalesce(string_agg(tgname || ' ' || tgenabled::text || ' ' || encode(tgargs, 'escape'), '; '
       ORDER BY tgname), '') FROM pg_trigger WHERE tgrelid = 'alice.posts'::regclass AND NOT tgisinternal;
SELECT 'rows: ' || coalesce(md5(string_agg(p::text, ';' ORDER BY id)), '') FROM alice.posts p;
SELECT 'outbox: ' || coalesce(string_agg(o.id || ' ' || o.state || ' ' || o.xmin::text, '; ' ORDER BY o.id), '')
FROM webflow.outbox o JOIN webflow.bindings b ON b.id = o.binding_id WHERE b.source = 'alice.posts'::regclass;
SELECT 'item map: ' || coalesce(string_agg(source_key || ' ' || item_id || ' ' || coalesce(payload_hash, ''), '; '
       ORDER BY source_key), '')
FROM webflow.items WHERE collection_id = '__JOBS__' AND source_key IN (SELECT id::text FROM alice.posts);
SELECT 'roles: ' || coalesce(string_agg(m.roleid::regrole::text, ',' ORDER BY 1), '')
FROM pg_auth_members m WHERE m.member = 'alice'::regrole;
});
	my %mine = map { $_ => 1 } (@{ $ids // [] }, split /\n/, admin_q(q{
SELECT item_id FROM webflow.items WHERE collection_id = '__JOBS__'
AND source_key IN (SELECT id::text FROM alice.posts)}));
	my %at = map { $_->{id} => $_ } @{ fake_items($JOBS) };
	$s .= "\nWebflow items: " . join('; ',
		map { $at{$_} ? $json->encode([ @{ $at{$_} }{qw(id fieldData isDraft isArchived lastUpdated)} ]) : "$_ gone" }
		  sort keys %mine);
	return wantarray ? ($s, [ sort keys %mine ]) : $s;
}

# foreign_bindings: bindings of tables that neither mallory nor alice
# owns, and triggers on them that were not there at the start
sub foreign_triggers
{
	return grep { !$trigger_baseline{$_} } split /\n/, admin_q(q{
SELECT t.tgname || E'\t' || t.tgrelid::regclass::text FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
WHERE NOT t.tgisinternal AND c.relowner NOT IN ('mallory'::regrole, 'alice'::regrole)});
}

sub foreign_bindings
{
	my $b = admin_q(q{
SELECT string_agg('binding ' || b.source::text || '->' || b.collection_id, ', ')
FROM webflow.bindings b JOIN pg_class c ON c.oid = b.source
WHERE c.relowner NOT IN ('mallory'::regrole, 'alice'::regrole)});
	my @t = map { my ($n, $r) = split /\t/; "trigger $n on $r" } foreign_triggers();
	return join(', ', grep { /\S/ } ($b, @t));
}

sub drop_foreign_bindings
{
	for my $t (foreign_triggers())
	{
		my ($n, $r) = split /\t/, $t;
		admin_q('DROP TRIGGER ' . qi($n) . " ON $r");
	}
	admin_q(q{
DELETE FROM webflow.outbox WHERE binding_id IN (
    SELECT b.id FROM webflow.bindings b JOIN pg_class c ON c.oid = b.source
    WHERE c.relowner NOT IN ('mallory'::regrole, 'alice'::regrole));
DELETE FROM webflow.bindings b USING pg_class c
WHERE c.oid = b.source AND c.relowner NOT IN ('mallory'::regrole, 'alice'::regrole);
});
}

# secrets_elsewhere: the items of collections other than alice's that
# hold alice's or the superuser's secret (and of hers, the superuser's)
sub secrets_elsewhere
{
	my @found;
	for my $c ($TAGS, $AUTHORS, $BOOKS, $JOBS)
	{
		for my $item (@{ fake_items($c) })
		{
			my $text = $json->encode($item);
			push @found, "alice's secret is in item $item->{id} of collection $c"
			  if $c ne $JOBS && index($text, $alice_secret) >= 0;
			push @found, "the superuser's secret is in item $item->{id} of collection $c"
			  if index($text, $admin_secret) >= 0;
		}
	}
	return @found;
}

# restore_alice: her binding to Jobs (re-made by her if gone), her items
# (re-published by sync), nothing else bound
sub restore_alice
{
	admin_q(q{
DO $d$
DECLARE r record;
BEGIN
    FOR r IN SELECT t.tgname FROM pg_trigger t
             WHERE t.tgrelid = 'alice.posts'::regclass AND NOT t.tgisinternal
               AND position('__JOBS__' in encode(t.tgargs, 'escape')) = 0 LOOP
        EXECUTE format('DROP TRIGGER %I ON alice.posts', r.tgname);
    END LOOP;
    DELETE FROM webflow.outbox WHERE binding_id IN (SELECT id FROM webflow.bindings
        WHERE source = 'alice.posts'::regclass AND collection_id <> '__JOBS__');
    DELETE FROM webflow.bindings WHERE source = 'alice.posts'::regclass AND collection_id <> '__JOBS__';
END
$d$;
});
	my $bound = admin_q(q{SELECT count(*) FROM webflow.bindings
                          WHERE source = 'alice.posts'::regclass AND collection_id = '__JOBS__'});
	run_as('alice', 'alice-own', q{SELECT webflow.bind('alice.posts', '__JOBS__');}) if $bound eq '0';
	run_as('alice', 'alice-own', q{SELECT webflow.sync('alice.posts');});
	wait_settled();
}

# attempt(NAME, CODE, OPTS): runs one route and judges it
#   prep => CODE run before the baseline is taken
#   alice_changes => 1: alice changes her own state in it
#   check => CODE returning more problems
sub attempt
{
	my ($name, $code, %o) = @_;
	$n_attempts++;
	$current = $name;
	$base    = $n_attempts * 1000;
	$seen    = '';
	$o{prep}->() if $o{prep};
	my $id0    = admin_q(q{SELECT coalesce(max(id), 0) FROM public.evidence}) || 0;
	my $log0   = -s $node->logfile;
	my ($alice0, $alice_ids) = alice_state();
	my %secrets0 = map { $_ => 1 } secrets_elsewhere();
	my $t0     = time;
	my @problems;

	eval { $code->(); 1 } or push @problems, "the attempt died: $@";

	# tables of others must not be bound (dropped at once: a publish
	# trigger on webflow.outbox would feed itself)
	my $foreign = foreign_bindings();
	if ($foreign =~ /\S/)
	{
		push @problems, "bound a table neither mallory nor alice owns: $foreign";
		drop_foreign_bindings();
	}
	wait_settled();
	push @problems, $o{check}->() if $o{check};

	my $roles = mallory_roles();
	push @problems, "mallory has $roles" if $roles =~ /\S/;
	my (%count, @order);
	for my $e (evidence($id0, $log0))
	{
		my $why = bad_evidence($e) or next;
		$reported{ ev_key($e) } = 1;
		push @order, $why unless $count{$why}++;
	}
	push @problems, map { "$_ x$count{$_}" } @order;
	push @problems, 'mallory (or trudy) saw the token' if index($seen, $token) >= 0;
	push @problems, "mallory saw alice's rows" if index($seen, $alice_secret) >= 0;
	push @problems, "mallory saw the superuser's rows" if index($seen, $admin_secret) >= 0;
	push @problems, 'the evidence table mallory reads holds the token'
	  if admin_q(qq{SELECT count(*) FROM public.evidence WHERE id > $id0 AND position(} . ql($token) . q{ in token) > 0})
	  ne '0';
	my $alice1 = alice_state($alice_ids);
	if (!$o{alice_changes} && $alice1 ne $alice0)
	{
		my @a = split /\n/, $alice0;
		my @b = split /\n/, $alice1;
		for my $i (0 .. $#b)
		{
			push @problems, "alice's state changed: was [" . ($a[$i] // '') . "], is [$b[$i]]"
			  if ($a[$i] // '') ne $b[$i];
		}
	}
	push @problems, grep { !$secrets0{$_} } secrets_elsewhere();

	my %u;
	@problems = grep { !$u{$_}++ } @problems;
	$n_escalations++ if @problems;
	ok(!@problems, "hostile: $name")
	  or diag(join("\n", map { "  $_" } (@problems > 25 ? (@problems[0 .. 24], '...') : @problems)));
	note(sprintf('%s: %.1f s', $name, time - $t0));

	# what one attempt leaked must not fail the next ones
	restore_mallory() if $roles =~ /\S/;
	admin_q(q{UPDATE public.evidence SET token = 'scrubbed' WHERE position(} . ql($token) . q{ in token) > 0});
	restore_alice() if $alice1 ne $alice0 || $alice1 !~ /^bindings: \Q$JOBS\E /m;
}

# drive(TABLE, OPTS): every code path that could run what mallory planted
# in her bound TABLE: her writes (INSERT, UPDATE, ON CONFLICT, MERGE, COPY,
# DELETE, TRUNCATE), bind() again with a row, sync(), drain(); the
# superuser's and alice's own writes (phases direct:X); sync() and bind()
# by the superuser; the worker.
sub drive
{
	my ($t, %o) = @_;
	my $coll = $o{coll} // $TAGS;
	my $opts = ql($o{opts} // '{}');
	my $tl   = ql($t);
	my $bind = "SELECT webflow.bind($tl, '$coll', $opts);";
	run_as('mallory', 'mallory', qq{
$bind
INSERT INTO $t (id, name) VALUES (__B1__, 'Mal __B1__'), (__B2__, 'Mal __B2__');
UPDATE $t SET name = 'Mal __B1__ upd' WHERE id OPERATOR(pg_catalog.=) __B1__;
INSERT INTO $t (id, name) VALUES (__B1__, 'Mal __B1__ conflict') ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name;
MERGE INTO $t d USING (VALUES (__B3__, 'Mal __B3__')) v(id, name) ON d.id OPERATOR(pg_catalog.=) v.id
    WHEN MATCHED THEN UPDATE SET name = v.name
    WHEN NOT MATCHED THEN INSERT (id, name) VALUES (v.id, v.name);
COPY $t (id, name) FROM stdin;
__B4__\tMal __B4__
\\.
$bind
SELECT webflow.sync($tl);
DELETE FROM $t WHERE id OPERATOR(pg_catalog.=) __B2__;
SELECT webflow.drain();
}, %o);
	# the superuser writes to her table himself (direct), then syncs and
	# binds it: it must be read as its owner
	run_as($su, "direct:$su", qq{
INSERT INTO $t (id, name) VALUES (__B101__, 'Su __B101__');
UPDATE $t SET name = 'Su __B101__ upd' WHERE id = __B101__;
DELETE FROM $t WHERE id = __B101__;
SET hostile.phase = 'su-sync';
SELECT webflow.sync($tl);
$bind
SELECT webflow.drain();
});
	run_as('alice', 'direct:alice', qq{
INSERT INTO $t (id, name) VALUES (__B201__, 'Al __B201__');
UPDATE $t SET name = 'Al __B201__ upd' WHERE id OPERATOR(pg_catalog.=) __B201__;
DELETE FROM $t WHERE id OPERATOR(pg_catalog.=) __B201__;
}) unless $o{no_alice};
	run_as('mallory', 'mallory', qq{
TRUNCATE $t;
INSERT INTO $t (id, name) VALUES (__B5__, 'Mal __B5__');
SELECT webflow.drain();
}, %o);
	wait_settled();
	run_as('mallory', 'mallory', "SELECT webflow.unbind($tl);", %o) unless $o{keep_bound};
}

# evil_table(NAME, COLUMNS): her table, writable by alice
sub evil_table
{
	my ($name, $cols) = @_;
	return "CREATE TABLE public.$name (id int PRIMARY KEY, name text NOT NULL"
	  . ($cols ? ", $cols" : '') . ");\n"
	  . "GRANT SELECT, INSERT, UPDATE, DELETE ON public.$name TO alice;\n";
}

sub enum_casts
{
	my ($type, $tag, @to) = @_;
	my $sql = "CREATE TYPE public.$type AS ENUM ('a', 'b');\n";
	for my $to (@to)
	{
		my $fn = "${type}_$to";
		my $expr = $to eq 'json' ? 'pg_catalog.to_json(pg_catalog.textin(pg_catalog.enum_out(v)))'
		  : $to eq 'jsonb' ? 'pg_catalog.to_jsonb(pg_catalog.textin(pg_catalog.enum_out(v)))'
		  : 'pg_catalog.textin(pg_catalog.enum_out(v))';
		my $ret = $to eq 'varchar' ? 'character varying' : $to;
		$sql .= evil_fn($fn, "v public.$type", $ret, "$tag: cast $type -> $to", $expr);
		$sql .= "CREATE CAST (public.$type AS $ret) WITH FUNCTION public.$fn(public.$type);\n";
	}
	return $sql;
}

# ---------------------------------------------------------------------
# casts: to_jsonb() of a row runs the casts to json of her types
# ---------------------------------------------------------------------
attempt('cast enum -> json (column mapped to a field)', sub {
	mallory(enum_casts('hr_e1', 'enum-json', 'json') . evil_table('hr_t1', q{e public.hr_e1 DEFAULT 'a'}));
	drive('public.hr_t1', opts => '{"fields": {"e": "description"}}');
});

attempt('cast enum -> jsonb', sub {
	mallory(enum_casts('hr_e2', 'enum-jsonb', 'jsonb') . evil_table('hr_t2', q{e public.hr_e2 DEFAULT 'a'}));
	drive('public.hr_t2', opts => '{"fields": {"e": "description"}}');
});

attempt('cast enum -> text/varchar/json, enum in the key', sub {
	mallory(enum_casts('hr_e3', 'enum-key', 'text', 'varchar', 'json', 'jsonb')
		  . evil_table('hr_t3', q{e public.hr_e3 DEFAULT 'a'}));
	drive('public.hr_t3', opts => '{"key": ["id", "e"]}');
});

attempt('cast on the enum under a domain', sub {
	mallory(enum_casts('hr_e4', 'domain-over-enum', 'json', 'jsonb')
		  . "CREATE DOMAIN public.hr_d4 AS public.hr_e4;\n"
		  . evil_table('hr_t4', q{e public.hr_d4 DEFAULT 'a'}));
	drive('public.hr_t4', opts => '{"fields": {"e": "description"}}');
});

attempt('cast on a domain (PostgreSQL ignores it)', sub {
	my $sql = "CREATE DOMAIN public.hr_d5 AS text;\n";
	$sql .= evil_fn('hr_d5_json', 'v public.hr_d5', 'json', 'domain-cast: json', 'pg_catalog.to_json(v::text)');
	$sql .= evil_fn('hr_d5_jsonb', 'v public.hr_d5', 'jsonb', 'domain-cast: jsonb', 'pg_catalog.to_jsonb(v::text)');
	$sql .= "CREATE CAST (public.hr_d5 AS json) WITH FUNCTION public.hr_d5_json(public.hr_d5);\n";
	$sql .= "CREATE CAST (public.hr_d5 AS jsonb) WITH FUNCTION public.hr_d5_jsonb(public.hr_d5);\n";
	mallory($sql . evil_table('hr_t5', q{e public.hr_d5 DEFAULT 'x'}));
	drive('public.hr_t5', opts => '{"fields": {"e": "description"}}');
});

attempt('cast on arrays of enum, and a domain over one', sub {
	mallory(enum_casts('hr_e6', 'enum-array', 'json', 'jsonb')
		  . "CREATE DOMAIN public.hr_d6 AS public.hr_e6[];\n"
		  . evil_table('hr_t6',
			q{ea public.hr_e6[] DEFAULT '{a,b}', eaa public.hr_e6[] DEFAULT '{{a},{b}}', ed public.hr_d6 DEFAULT '{a}'}));
	drive('public.hr_t6', opts => '{"exclude": ["ea", "eaa", "ed"]}');
});

attempt('cast on an enum inside composite types and a row type', sub {
	mallory(enum_casts('hr_e7', 'enum-in-composite', 'json', 'jsonb')
		  . "CREATE TYPE public.hr_c7 AS (a int, e public.hr_e7);\n"
		  . "CREATE TABLE public.hr_inner7 (x int, e public.hr_e7);\n"
		  . evil_table('hr_t7',
			q{c public.hr_c7 DEFAULT ROW(1, 'a')::public.hr_c7,
              ca public.hr_c7[] DEFAULT ARRAY[ROW(1, 'a')::public.hr_c7],
              r public.hr_inner7 DEFAULT ROW(1, 'b')::public.hr_inner7}));
	drive('public.hr_t7', opts => '{"exclude": ["c", "ca", "r"]}');
});

attempt('cast on a range and a multirange over an enum', sub {
	my $sql = "CREATE TYPE public.hr_e8 AS ENUM ('a', 'b');\n"
	  . "CREATE TYPE public.hr_r8 AS RANGE (subtype = public.hr_e8, multirange_type_name = public.hr_m8);\n";
	for my $t ([ 'hr_r8', 'range_out' ], [ 'hr_m8', 'multirange_out' ])
	{
		my ($type, $out) = @$t;
		for my $to ('json', 'jsonb')
		{
			my $fn = "${type}_$to";
			$sql .= evil_fn($fn, "v public.$type", $to, "range: cast $type -> $to",
				"pg_catalog.to_$to(pg_catalog.textin(pg_catalog.$out(v)))");
			$sql .= "CREATE CAST (public.$type AS $to) WITH FUNCTION public.$fn(public.$type);\n";
		}
	}
	mallory($sql . evil_table('hr_t8',
		q{r public.hr_r8 DEFAULT public.hr_r8('a', 'b', '[]'),
          m public.hr_m8 DEFAULT public.hr_m8(public.hr_r8('a', 'b', '[]'))}));
	drive('public.hr_t8', opts => '{"exclude": ["r", "m"]}');
});

attempt('cast in a partitioned table and its partitions', sub {
	mallory(enum_casts('hr_e9', 'partitioned', 'json', 'jsonb') . q{
CREATE TABLE public.hr_p9 (id int PRIMARY KEY, name text NOT NULL, e public.hr_e9 DEFAULT 'a') PARTITION BY RANGE (id);
CREATE TABLE public.hr_p9_a PARTITION OF public.hr_p9 FOR VALUES FROM (0) TO (10000000);
GRANT SELECT, INSERT, UPDATE, DELETE ON public.hr_p9, public.hr_p9_a TO alice;
CREATE TABLE public.hr_p9_b (id int NOT NULL, name text NOT NULL, e public.hr_e9 DEFAULT 'b');
ALTER TABLE public.hr_p9 ATTACH PARTITION public.hr_p9_b FOR VALUES FROM (10000000) TO (20000000);
SELECT webflow.bind('public.hr_p9_a', '__TAGS__', '{}');
SELECT webflow.bind('public.hr_p9', '__TAGS__', '{"fields": {"e": "description"}}');
INSERT INTO public.hr_p9 (id, name) VALUES (10000000 + __B7__, 'Mal part b');
CREATE TABLE public.hr_p9_c PARTITION OF public.hr_p9 FOR VALUES FROM (20000000) TO (30000000);
CREATE TABLE public.hr_p9_d (id int NOT NULL, name text NOT NULL, e public.hr_e9 DEFAULT 'b');
ALTER TABLE public.hr_p9 ATTACH PARTITION public.hr_p9_d FOR VALUES FROM (30000000) TO (40000000);
INSERT INTO public.hr_p9 (id, name) VALUES (20000000 + __B7__, 'Mal part c'), (30000000 + __B7__, 'Mal part d');
});
	drive('public.hr_p9', opts => '{"fields": {"e": "description"}}');
});

attempt('cast on a column added after bind() (cached trigger state)', sub {
	mallory(evil_table('hr_t10', '') . q{
SELECT webflow.bind('public.hr_t10', '__TAGS__', '{}');
INSERT INTO public.hr_t10 VALUES (__B50__, 'Mal __B50__');
} . enum_casts('hr_e10', 'late-column', 'json', 'jsonb') . q{
ALTER TABLE public.hr_t10 ADD COLUMN e public.hr_e10 DEFAULT 'a';
INSERT INTO public.hr_t10 (id, name) VALUES (__B51__, 'Mal __B51__');
UPDATE public.hr_t10 SET name = 'Mal __B50__ upd' WHERE id OPERATOR(pg_catalog.=) __B50__;
SELECT webflow.sync('public.hr_t10');
});
	drive('public.hr_t10', opts => '{"fields": {"e": "description"}}');
});

attempt('cast in a temporary table', sub {
	mallory(enum_casts('hr_e11', 'temp-table', 'json', 'jsonb') . q{
CREATE TEMP TABLE hr_tmp11 (id int PRIMARY KEY, name text NOT NULL, e public.hr_e11 DEFAULT 'a');
SELECT webflow.bind('pg_temp.hr_tmp11', '__TAGS__', '{"fields": {"e": "description"}}');
INSERT INTO pg_temp.hr_tmp11 (id, name) VALUES (__B1__, 'Mal __B1__'), (__B2__, 'Mal __B2__');
SELECT webflow.bind('pg_temp.hr_tmp11', '__TAGS__', '{"fields": {"e": "description"}}');
SELECT webflow.sync('pg_temp.hr_tmp11');
UPDATE pg_temp.hr_tmp11 SET name = 'Mal upd' WHERE id OPERATOR(pg_catalog.=) __B1__;
SELECT webflow.drain();
TRUNCATE pg_temp.hr_tmp11;
SELECT webflow.unbind('pg_temp.hr_tmp11');
});
});

# ---------------------------------------------------------------------
# expressions, policies, triggers, views
# ---------------------------------------------------------------------
attempt('defaults, generated column, CHECK, domain CHECK and index expression', sub {
	my $sql = evil_fn('hr_x_def', '', 'text', 'expr: default', q{'d'});
	$sql .= evil_fn('hr_x_imm', 'v int', 'int', 'expr: generated column / index', 'v', volatility => 'IMMUTABLE');
	$sql .= evil_fn('hr_x_chk', 'v text', 'boolean', 'expr: CHECK', 'true', volatility => 'IMMUTABLE');
	$sql .= evil_fn('hr_x_dchk', 'v text', 'boolean', 'expr: domain CHECK', 'true', volatility => 'IMMUTABLE');
	$sql .= "CREATE DOMAIN public.hr_x_dom AS text CHECK (public.hr_x_dchk(VALUE));\n";
	$sql .= evil_table('hr_t12',
		q{d text DEFAULT public.hr_x_def(), g int GENERATED ALWAYS AS (public.hr_x_imm(id)) STORED,
          dc public.hr_x_dom DEFAULT 'x', CHECK (public.hr_x_chk(name))});
	$sql .= "CREATE INDEX ON public.hr_t12 (public.hr_x_imm(id));\n";
	mallory($sql);
	drive('public.hr_t12', opts => '{"exclude": ["d", "g", "dc"]}');
});

attempt('row-level security policies calling her functions (FORCE)', sub {
	my $sql = evil_fn('hr_pol', 'v int', 'boolean', 'rls: policy', 'true');
	$sql .= evil_table('hr_t13', '');
	$sql .= q{
ALTER TABLE public.hr_t13 ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.hr_t13 FORCE ROW LEVEL SECURITY;
CREATE POLICY hr_pol_all ON public.hr_t13 USING (public.hr_pol(id)) WITH CHECK (public.hr_pol(id));
};
	mallory($sql);
	drive('public.hr_t13');
});

attempt('her triggers on her bound table try to write webflow.outbox, items, bindings', sub {
	mallory(evil_table('hr_t14', '') . q{
CREATE FUNCTION public.hr_touch() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $f$
DECLARE
    ph text := coalesce(current_setting('hostile.phase', true), '');
BEGIN
    PERFORM public.hr_note('trigger ' || TG_NAME || ' ' || TG_WHEN || ' ' || TG_OP);
    IF ph NOT LIKE 'direct:%' THEN
        BEGIN
            INSERT INTO webflow.outbox (binding_id, op, row_key)
            SELECT g, 'delete', k FROM generate_series(1, 50) g, (VALUES ('1'), ('2'), ('3')) v(k);
            PERFORM public.hr_note('trigger: INSERT into webflow.outbox SUCCEEDED');
        EXCEPTION WHEN OTHERS THEN NULL;
        END;
        BEGIN
            UPDATE webflow.outbox SET state = 'pending', attempts = 0 WHERE true;
            PERFORM public.hr_note('trigger: UPDATE of webflow.outbox SUCCEEDED');
        EXCEPTION WHEN OTHERS THEN NULL;
        END;
        BEGIN
            DELETE FROM webflow.items WHERE true;
            PERFORM public.hr_note('trigger: DELETE from webflow.items SUCCEEDED');
        EXCEPTION WHEN OTHERS THEN NULL;
        END;
        BEGIN
            UPDATE webflow.bindings SET options = '{"on_delete": "ignore"}' WHERE true;
            PERFORM public.hr_note('trigger: UPDATE of webflow.bindings SUCCEEDED');
        EXCEPTION WHEN OTHERS THEN NULL;
        END;
        BEGIN
            PERFORM webflow.unbind('alice.posts');
            PERFORM public.hr_note('trigger: unbind of alice.posts SUCCEEDED');
        EXCEPTION WHEN OTHERS THEN NULL;
        END;
    END IF;
    IF TG_LEVEL = 'ROW' AND TG_WHEN = 'BEFORE' THEN
        IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
        RETURN NEW;
    END IF;
    RETURN NULL;
END
$f$;
CREATE TRIGGER aaa_hr_before BEFORE INSERT OR UPDATE OR DELETE ON public.hr_t14
    FOR EACH ROW EXECUTE FUNCTION public.hr_touch();
CREATE TRIGGER aaa_hr_after AFTER INSERT OR UPDATE OR DELETE ON public.hr_t14
    FOR EACH ROW EXECUTE FUNCTION public.hr_touch();
CREATE TRIGGER zzz_hr_after AFTER INSERT OR UPDATE OR DELETE ON public.hr_t14
    FOR EACH ROW EXECUTE FUNCTION public.hr_touch();
CREATE TRIGGER zzz_hr_truncate AFTER TRUNCATE ON public.hr_t14
    FOR EACH STATEMENT EXECUTE FUNCTION public.hr_touch();
CREATE CONSTRAINT TRIGGER zzz_hr_deferred AFTER INSERT OR UPDATE OR DELETE ON public.hr_t14
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION public.hr_touch();
});
	drive('public.hr_t14');
});

attempt('a bound table turned into a view (view as source)', sub {
	mallory(q{
CREATE TABLE public.hr_v15 (id int PRIMARY KEY, name text NOT NULL);
SELECT webflow.bind('public.hr_v15', '__TAGS__', '{}');
});
	mallory(evil_fn('hr_v15_fn', 'v int', 'text', 'view-as-source', q{'View row ' OPERATOR(pg_catalog.||) v::text})
		  . q{
DO $d$
DECLARE r record;
BEGIN
    FOR r IN SELECT tgname FROM pg_catalog.pg_trigger
             WHERE tgrelid OPERATOR(pg_catalog.=) 'public.hr_v15'::regclass::oid AND NOT tgisinternal LOOP
        EXECUTE pg_catalog.format('DROP TRIGGER %I ON public.hr_v15', r.tgname::text);
    END LOOP;
END
$d$;
ALTER TABLE public.hr_v15 DROP CONSTRAINT hr_v15_pkey;
VACUUM public.hr_v15;
CREATE RULE "_RETURN" AS ON SELECT TO public.hr_v15 DO INSTEAD
    SELECT g AS id, public.hr_v15_fn(g) AS name FROM pg_catalog.generate_series(__B1__, __B2__) g;
SELECT relkind FROM pg_catalog.pg_class WHERE oid OPERATOR(pg_catalog.=) 'public.hr_v15'::regclass::oid;
SELECT webflow.sync('public.hr_v15');
SELECT webflow.bind('public.hr_v15', '__TAGS__', '{}');
SELECT webflow.drain();
});
	run_as($su, 'su-sync', q{SELECT webflow.sync('public.hr_v15'); SELECT webflow.drain();});
	wait_settled();
	mallory(q{SELECT webflow.unbind('public.hr_v15');});
});

attempt('views, materialized views, sequences and indexes cannot be bound', sub {
	mallory(evil_fn('hr_v16_fn', 'v int', 'text', 'non-table relkind', q{'x'}) . q{
CREATE VIEW public.hr_v16 AS SELECT 1 AS id, public.hr_v16_fn(1) AS name;
CREATE MATERIALIZED VIEW public.hr_v16_m AS SELECT 1 AS id, 'x'::text AS name WITH NO DATA;
CREATE SEQUENCE public.hr_v16_s;
CREATE TABLE public.hr_v16_t (id int PRIMARY KEY, name text NOT NULL);
CREATE TYPE public.hr_v16_c AS (id int, name text);
SELECT webflow.bind('public.hr_v16', '__TAGS__', '{"key": "id"}');
SELECT webflow.bind('public.hr_v16_m', '__TAGS__', '{"key": "id"}');
SELECT webflow.bind('public.hr_v16_s', '__TAGS__', '{"key": "last_value"}');
SELECT webflow.bind('public.hr_v16_t_pkey', '__TAGS__', '{"key": "id"}');
SELECT webflow.bind('public.hr_v16_c', '__TAGS__', '{"key": "id"}');
SELECT webflow.sync('public.hr_v16');
SELECT webflow.sync('public.hr_v16_m');
});
	},
	check => sub {
		my $n = admin_q(q{SELECT count(*) FROM webflow.bindings b JOIN pg_class c ON c.oid = b.source
                          WHERE c.relname LIKE 'hr\_v16%' AND c.relkind NOT IN ('r', 'p')});
		return $n eq '0' ? () : ("$n bindings of views, sequences, indexes or types");
	});

attempt('inheritance: a child of her bound table with an evil column', sub {
	mallory(enum_casts('hr_e17', 'inheritance-child', 'json', 'jsonb') . evil_table('hr_t17', '') . q{
CREATE TABLE public.hr_t17_child (e public.hr_e17 DEFAULT 'a') INHERITS (public.hr_t17);
GRANT SELECT, INSERT, UPDATE, DELETE ON public.hr_t17_child TO alice;
INSERT INTO public.hr_t17_child (id, name) VALUES (__B60__, 'Mal child');
});
	drive('public.hr_t17');
});

# ---------------------------------------------------------------------
# search_path
# ---------------------------------------------------------------------
attempt('shadowing functions, operators and pg_temp views on a plain table', sub {
	mallory(evil_table('hr_t18', ''));
	drive('public.hr_t18');
});

attempt('ALTER ROLE mallory SET search_path = public, pg_catalog', sub {
	mallory(q{ALTER ROLE mallory SET search_path = public, pg_catalog;}
		  . enum_casts('hr_e19', 'role-search-path', 'json') . evil_table('hr_t19', q{e public.hr_e19 DEFAULT 'a'}));
	drive('public.hr_t19', keep_path => 1, opts => '{"fields": {"e": "description"}}');
	mallory(q{ALTER ROLE mallory RESET search_path;});
});

attempt('careless victims: alice and the superuser with public first in search_path', sub {
	run_as('alice', 'alice-careless', q{
SET search_path = public, pg_catalog;
INSERT INTO alice.posts (id, name, department) VALUES (__B1__, 'Alice careless', 'careless');
UPDATE alice.posts SET department = 'careless upd' WHERE id OPERATOR(pg_catalog.=) __B1__;
SELECT webflow.bind('alice.posts', '__JOBS__');
SELECT webflow.sync('alice.posts');
SELECT webflow.drain();
DELETE FROM alice.posts WHERE id OPERATOR(pg_catalog.=) __B1__;
SELECT webflow.drain();
});
	run_as($su, 'su-careless', q{
SET search_path = public, pg_catalog;
INSERT INTO alice.posts (id, name, department) VALUES (__B2__, 'Su careless', 'careless');
SELECT webflow.sync('alice.posts');
SELECT webflow.bind('alice.posts', '__JOBS__');
SELECT webflow.drain();
SELECT webflow.retry(false);
DELETE FROM alice.posts WHERE id OPERATOR(pg_catalog.=) __B2__;
SELECT webflow.drain();
}, keep_path => 1);
	},
	alice_changes => 1);

attempt('plpgsql.variable_conflict = use_column / use_variable', sub {
	mallory(enum_casts('hr_e20', 'variable-conflict', 'json') . evil_table('hr_t20', q{e public.hr_e20 DEFAULT 'a'}));
	for my $vc ('use_column', 'use_variable')
	{
		mallory(qq{
SET plpgsql.variable_conflict = $vc;
SELECT webflow.bind('public.hr_t20', '__TAGS__', '{"fields": {"e": "description"}}');
INSERT INTO public.hr_t20 (id, name) VALUES (__B1__, 'Mal vc') ON CONFLICT (id) DO UPDATE SET name = 'Mal vc $vc';
SELECT webflow.bind('public.hr_t20', '__TAGS__', '{"fields": {"e": "description"}}');
SELECT webflow.sync('public.hr_t20');
SELECT webflow.retry(true);
SELECT webflow.drain();
SELECT webflow.bind('alice.posts', '__TAGS__', '{"exclude": ["department"]}');
SELECT webflow.sync('alice.posts');
SELECT webflow.unbind('alice.posts', '__JOBS__');
SELECT webflow.unbind('public.hr_t20');
});
	}
});

# ---------------------------------------------------------------------
# quoting
# ---------------------------------------------------------------------
my $weird_table = q{hr.'q"uote;%s%I%L$$\ d.ü😀};
my $weird_col   = q{k'"); SELECT public.hr_note('inj col SUCCEEDED'); --};
my $weird_excl  = q{e$$'x"%s\ %I};
attempt('a table name with quotes, dots, %, $$, backslash and unicode', sub {
	my $t = 'public.' . qi($weird_table);
	mallory("CREATE TABLE $t (id int PRIMARY KEY, name text NOT NULL, "
		  . qi($weird_col) . " text DEFAULT 'k', " . qi($weird_excl) . " text DEFAULT 'x');\n"
		  . "GRANT SELECT, INSERT, UPDATE, DELETE ON $t TO alice;\n");
	drive($t, opts => $json->encode({ exclude => [ $weird_col, $weird_excl ] }));
});

attempt('option values built to break quoting', sub {
	my $t = 'public.' . qi($weird_table);
	my $tl = ql($t);
	my @opts = (
		{ key => $weird_col, exclude => [$weird_excl], on_delete => 'ignore' },
		{ exclude => [ $weird_col, $weird_excl ],
		  locale => q{'||public.hr_note('injected via locale SUCCEEDED')||'}, draft => JSON::PP::false },
		{ exclude => [ $weird_col, $weird_excl ], fields => { name => q{name'); SELECT public.hr_note('injected via fields SUCCEEDED'); --} } },
		{ exclude => [ $weird_col, $weird_excl ], locale => ('%s$$\\' x 20000) },
		{ key => q{id'); SELECT public.hr_note('injected via key SUCCEEDED'); --} },
		{ exclude => [ $weird_col, $weird_excl ], on_delete => q{ignore'; SELECT public.hr_note('injected via on_delete SUCCEEDED'); --} },
		{ exclude => [ $weird_col, $weird_excl ], live => q{true'::jsonb, public.hr_note('injected via live SUCCEEDED')::text::jsonb) --} },
		{ exclude => [ $weird_col, $weird_excl ], q{collection'); SELECT public.hr_note('injected via an option name SUCCEEDED'); --} => 1 },
		{ exclude => [ $weird_col, $weird_excl ], archived => "\x{202e}" },
	);
	my $sql = '';
	for my $o (@opts)
	{
		my $j = ql(JSON::PP->new->canonical->ascii->encode($o));
		$sql .= "SELECT webflow.bind($tl, '__TAGS__', $j);\n"
		  . "INSERT INTO $t (id, name) VALUES (__B1__, 'Mal opt') ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name;\n"
		  . "SELECT webflow.bind($tl, '__TAGS__', $j);\n"
		  . "SELECT webflow.sync($tl);\n"
		  . "DELETE FROM $t;\n"
		  . "SELECT webflow.unbind($tl, '__TAGS__');\n";
	}
	mallory($sql);
	mallory("SELECT webflow.drain();");
});

attempt('collection ids built to break quoting and paths', sub {
	mallory(evil_table('hr_t23', ''));
	my @ids = (
		qq{$TAGS'; SELECT public.hr_note('injected via collection id SUCCEEDED'); --},
		qq{$TAGS\n}, uc($TAGS), '%s%I%L$$\\', 'ä' x 24, '0' x 100000,
		"$TAGS/../../sites/$SITE", "../../collections/$JOBS", "$TAGS?x=1#", "$TAGS\r\nX-Injected: 1",
		qq{$TAGS"); SELECT public.hr_note('injected via collection id in a trigger SUCCEEDED'); --});
	my $sql = '';
	for my $id (@ids)
	{
		my $l = ql($id);
		$sql .= "SELECT webflow.bind('public.hr_t23', $l, '{}');\n"
		  . "SELECT webflow.unbind('public.hr_t23', $l);\n"
		  . "SELECT webflow.unbind('alice.posts', $l);\n";
	}
	$sql .= "INSERT INTO public.hr_t23 VALUES (__B1__, 'Mal ids');\nSELECT webflow.sync('public.hr_t23');\n";
	mallory($sql);
});

# ---------------------------------------------------------------------
# tables she does not own
# ---------------------------------------------------------------------
attempt("bind, unbind, sync alice's table directly", sub {
	my $oid = admin(q{SELECT 'alice.posts'::regclass::oid});
	mallory(qq{
SELECT webflow.bind('alice.posts', '__TAGS__', '{"exclude": ["department"]}');
SELECT webflow.bind('alice.posts', '__JOBS__', '{"on_delete": "ignore"}');
SELECT webflow.bind(${oid}::oid::regclass, '__JOBS__', '{"exclude": ["department"]}');
SELECT webflow.sync('alice.posts');
SELECT webflow.sync(${oid}::oid::regclass);
SELECT webflow.unbind('alice.posts', '__JOBS__');
SELECT webflow.unbind('alice.posts');
SELECT webflow.unbind(${oid}::oid::regclass, NULL);
});
});

attempt("the extension's tables, catalogs and the superuser's table", sub {
	my $sql = '';
	for my $rel (@targets)
	{
		my ($l, $o) = (ql($rel), ql($target{$rel}));
		$sql .= "SELECT webflow.bind($l, '__TAGS__', $o);\nSELECT webflow.sync($l);\nSELECT webflow.unbind($l);\n";
	}
	mallory($sql);
});

# hr_sd_act: a SECURITY DEFINER function of mallory's that others call
my $sd_body = '';
my @sd_actions = (
	[ "bind alice.posts to Tags", q{PERFORM webflow.bind('alice.posts', '__TAGS__', '{"exclude": ["department"]}');} ],
	[ "sync alice.posts",         q{PERFORM webflow.sync('alice.posts');} ],
	[ "sync her own evil table",  q{PERFORM webflow.sync('public.hr_t24');}, 'legit' ],
	(map { [ "bind $_", "PERFORM webflow.bind(" . ql($_) . ", '__TAGS__', " . ql($target{$_}) . ");" ],
			[ "sync $_", "PERFORM webflow.sync(" . ql($_) . ");" ] }
	  grep { $_ ne 'webflow.outbox' } @targets),
	[ "unbind alice.posts", q{PERFORM webflow.unbind('alice.posts', '__JOBS__');} ],
	[ "bind webflow.outbox", "PERFORM webflow.bind('webflow.outbox', '__TAGS__', " . ql($target{'webflow.outbox'}) . ");" ],
);
for my $a (@sd_actions)
{
	my ($what, $stmt, $legit) = @$a;
	my $mark = $legit ? "sd: $what ok" : "sd: $what SUCCEEDED";
	$sd_body .= "    BEGIN\n        $stmt\n        PERFORM public.hr_note(" . ql($mark) . ");\n"
	  . "        r := r OPERATOR(pg_catalog.||) " . ql("$what: done; ") . ";\n"
	  . "    EXCEPTION WHEN OTHERS THEN\n        r := r OPERATOR(pg_catalog.||) "
	  . ql("$what: refused; ") . ";\n    END;\n";
}
my $sd_setup = enum_casts('hr_e24', 'sd-evil-table', 'json', 'jsonb')
  . evil_table('hr_t24', q{e public.hr_e24 DEFAULT 'a'}) . q{
SELECT webflow.bind('public.hr_t24', '__TAGS__', '{"fields": {"e": "description"}}');
CREATE FUNCTION public.hr_sd_act() RETURNS text LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_catalog AS $f$
DECLARE
    r text := '';
BEGIN
    PERFORM public.hr_note('sd: hr_sd_act');
} . $sd_body . q{
    RETURN r;
END
$f$;
GRANT EXECUTE ON FUNCTION public.hr_sd_act() TO PUBLIC;
};

attempt('her SECURITY DEFINER function called by alice', sub {
	mallory($sd_setup);
	# (a row of her evil table, written by the superuser himself)
	run_as($su, "direct:$su", q{INSERT INTO public.hr_t24 (id, name) VALUES (__B1__, 'Su sd');});
	my ($r, $o, $e) = run_as('alice', 'alice-calls-mallory', q{SELECT public.hr_sd_act();});
	note("hr_sd_act() called by alice: $o");
});

attempt('her SECURITY DEFINER function called by the superuser', sub {
	my ($r, $o, $e) = run_as($su, 'su-calls-mallory', q{SELECT public.hr_sd_act();});
	note("hr_sd_act() called by the superuser: $o");
	mallory(q{SELECT webflow.unbind('public.hr_t24');});
});

attempt("her SECURITY DEFINER trigger fired by alice's and the superuser's writes", sub {
	my $body = $sd_body;
	$body =~ s/PERFORM webflow\.sync\('public\.hr_t24'\);/NULL;/;
	mallory(evil_table('hr_t26', '') . q{
CREATE FUNCTION public.hr_trap() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_catalog AS $f$
DECLARE
    r text := '';
BEGIN
    PERFORM public.hr_note('sd-trigger: hr_trap');
} . $body . q{
    RETURN NULL;
END
$f$;
CREATE TRIGGER hr_trap AFTER INSERT ON public.hr_t26 FOR EACH ROW EXECUTE FUNCTION public.hr_trap();
});
	run_as('alice', 'direct:alice', q{INSERT INTO public.hr_t26 VALUES (__B1__, 'Al trap');});
	run_as($su, "direct:$su", q{INSERT INTO public.hr_t26 VALUES (__B2__, 'Su trap');});
});

# ---------------------------------------------------------------------
# retry(), drain()
# ---------------------------------------------------------------------
my $retried = '';
attempt("retry() and other roles' failed rows", sub {
	(undef, $retried) = mallory(q{
SELECT webflow.retry();
SELECT webflow.retry(false);
SELECT webflow.retry(NULL);
SELECT webflow.retry(true);
});
	note("retry() as mallory returned: $retried");
	},
	prep => sub {
		# alice has a failed row, and mallory none
		if (admin_q(q{SELECT count(*) FROM webflow.outbox o JOIN webflow.bindings b ON b.id = o.binding_id
                      WHERE b.source = 'alice.posts'::regclass AND o.state = 'failed'}) eq '0')
		{
			run_as('alice', 'alice-own', q{INSERT INTO alice.posts VALUES (__B1__, '!!!', 'fails');});
			wait_until(sub { admin_q(q{SELECT count(*) > 0 FROM webflow.outbox o JOIN webflow.bindings b ON b.id = o.binding_id
                      WHERE b.source = 'alice.posts'::regclass AND o.state = 'failed'}) eq 't' }, 30, 0.2);
		}
		wait_settled();
	},
	check => sub {
		my $mine = admin_q(q{SELECT count(*) FROM webflow.outbox o JOIN webflow.bindings b ON b.id = o.binding_id
                             JOIN pg_class c ON c.oid = b.source WHERE c.relowner = 'mallory'::regrole});
		return ($mine eq '0' && $retried =~ /^[1-9]/m)
		  ? ("retry() as mallory requeued rows that are not hers: it returned " . join(',', split /\n/, $retried))
		  : ();
	});

attempt('drain() with odd arguments', sub {
	mallory(q{
SELECT webflow.drain(0);
SELECT webflow.drain(-1);
SELECT webflow.drain(NULL);
SELECT webflow.drain(2147483647);
SELECT webflow.drain(1);
});
});

# ---------------------------------------------------------------------
# the token
# ---------------------------------------------------------------------
my $token_reads = q{
SHOW webflow.token;
SELECT pg_catalog.current_setting('webflow.token');
SELECT pg_catalog.current_setting('webflow.token', true);
SELECT pg_catalog.current_setting('webflow.token')::int;
SELECT name, setting, reset_val, boot_val FROM pg_catalog.pg_settings WHERE name LIKE 'webflow%';
SELECT name, setting, reset_val, boot_val FROM pg_catalog.pg_show_all_settings() WHERE name LIKE 'webflow%';
SELECT string_agg(s::text, E'\n') FROM pg_catalog.pg_settings s;
SHOW ALL;
SELECT pg_catalog.set_config('webflow.token', 'x', true);
RESET webflow.token;
SET webflow.token TO DEFAULT;
SET LOCAL webflow.token = 'x';
SHOW webflow.token_file;
SET webflow.token_file = 'postgresql.conf';
SET webflow.api_url = 'http://127.0.0.1:9/v2';
ALTER ROLE CURRENT_USER SET webflow.token_file = 'postgresql.conf';
ALTER ROLE CURRENT_USER SET webflow.api_url = 'http://127.0.0.1:9/v2';
SELECT * FROM pg_catalog.pg_file_settings;
SELECT pg_catalog.pg_read_file('postgresql.conf');
SELECT pg_catalog.pg_read_file('postgresql.auto.conf');
SELECT * FROM pg_catalog.pg_db_role_setting;
SELECT query, backend_type, application_name FROM pg_catalog.pg_stat_activity;
SELECT webflow.http_stats(), webflow.worker_status();
EXPLAIN (SETTINGS) SELECT 1;
SELECT * FROM webflow.status;
SELECT last_error FROM webflow.bindings;
SELECT token FROM public.evidence;
};

attempt('webflow.token: SHOW, current_setting, pg_settings, errors (mallory)', sub {
	mallory($token_reads);
});

attempt('webflow.token: debug messages and API errors while bind/sync/drain call Webflow', sub {
	mallory(evil_table('hr_t31', ''));
	fake_fault({ status => 500, count => 2, match => { method => 'GET', path => "^/v2/collections/$TAGS\$" } });
	mallory(q{
SET client_min_messages = debug5;
SELECT webflow.bind('public.hr_t31', '__TAGS__');
SELECT webflow.bind('public.hr_t31', '__TAGS__');
SELECT webflow.bind('public.hr_t31', '__TAGS__');
INSERT INTO public.hr_t31 VALUES (__B1__, 'Mal debug');
SELECT webflow.sync('public.hr_t31');
SELECT webflow.drain();
SET webflow.timeout = '1ms';
SET webflow.connect_timeout = '1ms';
SELECT webflow.bind('public.hr_t31', '__TAGS__');
SELECT webflow.bind('public.hr_t31', '000000000000000000000000');
SELECT webflow.drain();
SELECT webflow.unbind('public.hr_t31');
});
	fake_clear_faults();
});

attempt('webflow.token: a pg_read_all_settings member (trudy)', sub {
	run_as('trudy', 'trudy', $token_reads);
});

# ---------------------------------------------------------------------
# every function of the extension mallory may call, aimed at others' tables
# ---------------------------------------------------------------------
attempt("every webflow function mallory may execute, aimed at alice's and the superuser's tables", sub {
	my @fns = split /\n/, admin(q{
SELECT p.oid::regprocedure::text || '|' || p.oid::regproc::text || '|'
       || coalesce((SELECT string_agg(format_type(u.t, NULL), ',' ORDER BY u.o)
                    FROM unnest(p.proargtypes) WITH ORDINALITY u(t, o)), '')
FROM pg_proc p
WHERE p.pronamespace = 'webflow'::regnamespace
  AND has_function_privilege('mallory', p.oid, 'EXECUTE')
  AND p.prorettype NOT IN ('trigger'::regtype, 'event_trigger'::regtype)
  AND p.prokind = 'f'
ORDER BY 1});
	my $sql = '';
	for my $target ('alice.posts', 'public.admin_secrets')
	{
		my $coll = $target eq 'alice.posts' ? $JOBS : $TAGS;
		my %arg = (
			regclass            => ql($target) . '::regclass',
			oid                 => ql($target) . '::regclass::oid',
			text                => ql($coll),
			jsonb               => q{'{}'::jsonb},
			json                => q{'{"id": 1}'::json},
			integer             => '1',
			bigint              => '1',
			boolean             => 'false',
			'text[]'            => q{'{id}'::text[]},
			name                => ql($target) . '::name',
		);
		for my $f (@fns)
		{
			my ($sig, $name, $types) = split /\|/, $f, -1;
			my @args = map { $arg{$_} // "NULL::$_" } grep { $_ ne '' } split /,/, $types;
			$sql .= "SELECT $name(" . join(', ', @args) . ");\n";
		}
	}
	note('mallory may execute: ' . join(', ', map { (split /\|/)[0] } @fns));
	mallory($sql);
});

# ---------------------------------------------------------------------
# a collection alice publishes to
# ---------------------------------------------------------------------
attempt("her table bound to alice's collection: same keys, then DELETE and TRUNCATE", sub {
	mallory(q{
CREATE TABLE public.hr_t35 (id int PRIMARY KEY, name text NOT NULL, department text);
SELECT webflow.bind('public.hr_t35', '__JOBS__');
INSERT INTO public.hr_t35 VALUES (1, 'Mallory Was Here', 'pwned'), (2, 'Mallory Again', 'pwned');
});
	wait_settled();
	mallory(q{
SELECT webflow.sync('public.hr_t35');
DELETE FROM public.hr_t35 WHERE id OPERATOR(pg_catalog.=) 1;
SELECT webflow.drain();
});
	wait_settled();
	mallory(q{
TRUNCATE public.hr_t35;
SELECT webflow.drain();
});
	wait_settled();
	mallory(q{SELECT webflow.unbind('public.hr_t35');});
});

attempt('her table bound to a collection alice published to, then unbound: same keys, sync, TRUNCATE', sub {
	mallory(q{
CREATE TABLE public.hr_t36 (id int PRIMARY KEY, name text NOT NULL, department text);
SELECT webflow.bind('public.hr_t36', '__JOBS__');
INSERT INTO public.hr_t36 VALUES (1, 'Mallory Was Here Again', 'pwned');
SELECT webflow.drain();
});
	wait_settled();
	mallory(q{
SELECT webflow.sync('public.hr_t36');
SELECT webflow.drain();
});
	wait_settled();
	mallory(q{
TRUNCATE public.hr_t36;
SELECT webflow.drain();
});
	wait_settled();
	mallory(q{SELECT webflow.unbind('public.hr_t36');});
	},
	# alice unbinds her table: her items stay in Webflow (and in the item map)
	prep => sub {
		run_as('alice', 'alice-own', q{SELECT webflow.unbind('alice.posts');});
		wait_settled();
	});

# a binding that outlives its table could, once the oid comes back as
# another role's table, feed that table's rows to her collection on sync()
attempt('a bound temporary table whose session ends', sub {
	mallory(q{
CREATE TEMP TABLE hr_tmp38 (id int PRIMARY KEY, name text NOT NULL);
SELECT webflow.bind('pg_temp.hr_tmp38', '__TAGS__');
INSERT INTO pg_temp.hr_tmp38 VALUES (__B1__, 'Mal temp __B1__');
});
	wait_settled();
	},
	check => sub {
		my $left = admin_q(q{SELECT string_agg(b.source::oid::text || '->' || b.collection_id, ', ')
                             FROM webflow.bindings b WHERE NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = b.source)});
		admin_q(q{DELETE FROM webflow.outbox o USING webflow.bindings b WHERE o.binding_id = b.id
                      AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = b.source);
                  DELETE FROM webflow.bindings b WHERE NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = b.source);});
		return $left =~ /\S/ ? ("bindings of relations that no longer exist: $left") : ();
	});


# ---------------------------------------------------------------------
# the end: evidence that surfaced after its attempt was judged
# ---------------------------------------------------------------------
wait_settled();
my @late = grep { !$reported{ ev_key($_) } && bad_evidence($_) } evidence(0, 0);
my %lu;
@late = grep { !$lu{ ev_key($_) }++ } @late;
$n_attempts++;
$n_escalations++ if @late;
ok(!@late, 'hostile: no escalation surfaced after its attempt was judged (worker, late drains)')
  or diag(join("\n", map { '  ' . bad_evidence($_) } @late[ 0 .. ($#late < 24 ? $#late : 24) ]));


diag("hostile-role: $n_attempts attempts, $n_escalations escalations");
note(sprintf('hostile-role took %.0f s', time - $t_start));
done_testing();
