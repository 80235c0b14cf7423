# t/094_key_change_attack.pl: fresh-eyes attacks on a7634a8 + 8fbc336:
# tuples_differ (bytes, then datum_image_eq) deciding "no change" / "key
# change", and _check_key_types refusing keys whose text depends on the
# writing session.
#
# Every attempt is one check that a guarantee HOLDS; a failing check is a
# BREAK.  The worker is off: the outbox's contents are the verdict.  As in
# t/093, bindt() attaches the publish trigger (a_wf) by hand plus a
# PL/pgSQL logger (b_log) recording what the outbox should hold, from
# webflow._row_key(to_jsonb(OLD/NEW), keys); "mismatch" compares them.
# The end prints "key-change-attack: N attempts, M breaks".
#
# Attempts (verdict on 8fbc336; all hold after the fixes: a key change is
# a change of the key's text, and a redundant upsert of the row's image
# is allowed; _check_key_types accepts only types whose text is the same
# in every session; an ALTER TABLE that leaves a bound table with such a
# key is refused):
#   1   int[] key / column re-set to an equal array slice that keeps a NULL
#       bitmap: delete+upsert of the same key, spurious upsert (BREAK)
#   2   composite key from a table's whole row vs ROW() (holds; composite
#       keys are refused since, the value is checked in a compared column)
#   3   float8 NaN of another bit pattern in a compared column: spurious
#       upsert (BREAK, minor)
#   4   text key changed after an embedded NUL only (superuser cast):
#       delete+upsert of the same key (BREAK, exotic)
#   5   numeric scale, char(n), fast defaults, STORAGE/COMPRESSION,
#       ALTER TYPE, exclude (holds)
#   6   session-dependent keys accepted: point, polygon, cube
#       (extra_float_digits), daterange, tsrange, datemultirange,
#       daterange[], composite with a daterange (DateStyle), bytea
#       (bytea_output), regclass, regtype (search_path) (BREAK x11);
#       date, timestamp[], time (hold)
#   7   key ALTERed to timestamptz after the binding exists: never
#       checked (BREAK)
#   8   50 MB TOASTed column unchanged / re-set equal: no slowdown (holds)
#   9   no crash (holds)
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes ();
use FindBin;
use lib $FindBin::RealBin;
use WebflowTest;

sub attempt { return attack_attempt(@_); }

my $node = new_node('key_change_attack',
	api_url                  => 'http://127.0.0.1:9',
	'webflow.worker_enabled' => 'off');
sub sql { return $node->safe_psql('postgres', $_[0]); }
sub try { return psql_try($node, $_[0]); }
my $C = '5f1e0000000000000000e001';

sql(key_log_sql($C));

sub check
{
	my $in = join(',', map { "'$_'" } @_);
	my $n = sql(qq{SELECT count(*) FROM webflow.outbox o JOIN webflow.bindings b ON b.id = o.binding_id
	              WHERE b.source::regclass::text IN ($in)});
	my $bad = sql(qq{SELECT count(*) FROM public.mismatch WHERE tbl IN ($in)});
	my $rows = $bad eq '0' ? '' : ' ' . sql(qq{SELECT string_agg(side || ' ' || op || ' ' || left(key, 40) || ' ' || left(coalesce(img, '-'), 60), ' | ')
	                                           FROM public.mismatch WHERE tbl IN ($in)});
	return ($n, $bad, "$n rows, $bad mismatches$rows");
}
my ($n, $bad, $msg);
# same_key(TABLE): "deletes/upserts/stale" of a table whose UPDATEs kept the
# key's text: no delete may be queued (it would delete the item and make it
# again); an upsert whose image is the row's (a column's bytes changed, its
# text did not) only sends the item as it is, and is allowed
sub same_key
{
	my $t = $_[0];
	return sql(qq{SELECT count(*) FILTER (WHERE o.op = 'delete') || '/' || count(*) FILTER (WHERE o.op = 'upsert') || '/'
	                     || count(*) FILTER (WHERE o.op = 'upsert' AND NOT EXISTS
	                            (SELECT 1 FROM public.$t r WHERE to_jsonb(r)::text = o.row_image::text))
	              FROM webflow.outbox o JOIN webflow.bindings b ON b.id = o.binding_id
	              WHERE b.source = 'public.$t'::regclass});
}

# ---- 1. no change, bytes differ: an int[] key (and a compared int[]
# column) set to a slice of an array with a NULL: the slice keeps a NULL
# bitmap with no NULL in it; the same '{1,2}' text, other bytes
sql(q{
CREATE TABLE a1 (k int[], v text, w int[]);
SELECT bindt('a1', '{"key": "k"}', '{k}');
INSERT INTO a1 VALUES ('{1,2}', 'a', '{5}');
UPDATE a1 SET k = ('{1,2,NULL}'::int[])[1:2];
UPDATE a1 SET w = ('{5,NULL}'::int[])[1:1];
});
my $s1 = same_key('a1');
attempt($s1 =~ m{^0/\d+/0$}, "1: array key / column re-set to an equal slice of an array with a NULL (NULL bitmap, no NULL): no delete, upserts of the row's image only (deletes/upserts/stale $s1): outbox " . sql(q{SELECT ops('a1')}));

# ---- 2. no change, bytes differ: a composite key set from a whole-row
# value of a table (the datum keeps the source tuple's t_ctid and hint
# bits) vs from ROW(...)
# (composite keys are refused since: their text holds attribute names that
# ALTER TYPE can rename; the same value in a compared column instead)
sql(q{
CREATE TABLE csrc (a int, b text);
INSERT INTO csrc VALUES (1, 'x');
CREATE TABLE c2k (k csrc, v text);
SELECT bindt('c2k', '{"key": "k"}', '{k}');
CREATE TABLE c2 (k int, c csrc, v text);
SELECT bindt('c2', '{"key": "k"}', '{k}');
INSERT INTO c2 VALUES (1, ROW(1, 'x')::csrc, 'a');
UPDATE c2 SET c = (SELECT s FROM csrc s);
UPDATE c2 SET c = ROW((c).a, (c).b)::csrc;
});
my $k2 = try(q{INSERT INTO c2k VALUES (ROW(1, 'x')::csrc, 'a')});
my $s2 = same_key('c2');
attempt($s2 =~ m{^0/\d+/0$} && $k2 =~ /whose text does not identify a row/,
	"2: composite column re-set to the same value from a table's whole row and back from ROW(): no delete, upserts of the row's image only ($s2): outbox " . sql(q{SELECT ops('c2')}) . "; a composite key: " . (split /\n/, $k2)[0]);

# ---- 3. no change, bytes differ: float8 NaN of another bit pattern
# (Infinity - Infinity) in a compared column: the same text "NaN"
sql(q{
CREATE TABLE n3 (k int PRIMARY KEY, f float8);
SELECT bindt('n3', '{}', '{k}');
INSERT INTO n3 VALUES (1, 'NaN');
UPDATE n3 SET f = 'Infinity'::float8 - 'Infinity'::float8;
});
my $s3 = same_key('n3');
attempt($s3 =~ m{^0/\d+/0$}, "3: float8 NaN re-set to another NaN bit pattern (same text): no delete, upserts of the row's image only (deletes/upserts/stale $s3): outbox " . sql(q{SELECT ops('n3')}));

# ---- 4. text key changed after a NUL byte only (superuser's cast): the
# key's text (up to the NUL) is the same
sql(q{
CREATE CAST (bytea AS text) WITHOUT FUNCTION;
CREATE TABLE z4 (k text, v text);
SELECT bindt('z4', '{"key": "k"}', '{k}');
INSERT INTO z4 VALUES ('\x610062'::bytea::text, 'a');
UPDATE z4 SET k = '\x610063'::bytea::text;
DROP CAST (bytea AS text);
});
my $s4 = same_key('z4');
attempt($s4 =~ m{^0/\d+/0$}, "4: text key changed after an embedded NUL only (same key text): no delete, upserts of the row's image only (deletes/upserts/stale $s4): outbox " . sql(q{SELECT ops('z4')}));

# ---- 5. real changes and non-changes that must hold: numeric scale,
# char(n) padding, fast defaults of arrays / composites / numeric, TOAST
# storage and compression changes, ALTER TYPE rewrites, exclude
sql(q{
CREATE TYPE cp5 AS (a int, b text);
CREATE TABLE h5 (id int, v text);
INSERT INTO h5 VALUES (1, 'a'), (2, 'b');
ALTER TABLE h5 ADD COLUMN ka int[] DEFAULT '{1,2}', ADD COLUMN kc cp5 DEFAULT ROW(1, 'x'),
  ADD COLUMN kn numeric DEFAULT 1.0, ADD COLUMN kt text DEFAULT repeat('é', 900);
SELECT bindt('h5', '{"key": ["ka", "kn", "kt"]}', '{ka,kn,kt}');
UPDATE h5 SET v = v || '!' WHERE id = 1;
UPDATE h5 SET id = id + 10;
UPDATE h5 SET kn = 1.00 WHERE id = 11;
UPDATE h5 SET kn = 1.0 WHERE id = 11;
ALTER TABLE h5 ALTER COLUMN kt SET STORAGE EXTERNAL;
UPDATE h5 SET kt = kt || '' WHERE id = 12;
ALTER TABLE h5 ALTER COLUMN kt SET COMPRESSION lz4;
ALTER TABLE h5 ALTER COLUMN kt SET STORAGE EXTENDED;
UPDATE h5 SET kt = repeat('é', 900) WHERE id = 12;
ALTER TABLE h5 ALTER COLUMN kt SET COMPRESSION pglz;
UPDATE h5 SET kt = repeat('é', 900) || '' WHERE id = 12;
UPDATE h5 SET ka = '{1,2}', kc = ROW(1, 'x') WHERE id = 11;
CREATE TABLE p5 (k char(4), v text);
SELECT bindt('p5', '{"key": "k"}', '{k}');
INSERT INTO p5 VALUES ('a', 'x');
UPDATE p5 SET k = 'a  ';
ALTER TABLE p5 ALTER COLUMN k TYPE char(6);
UPDATE p5 SET v = 'y';
UPDATE p5 SET k = 'a     ';
ALTER TABLE p5 ALTER COLUMN k TYPE varchar(6);
UPDATE p5 SET k = rtrim(k);
DELETE FROM h5; DELETE FROM p5;
CREATE TABLE x5 (k int, v text, e text);
SELECT bindp('x5', '{"key": "k", "exclude": ["e"]}');
INSERT INTO x5 VALUES (1, 'a', 'e');
UPDATE x5 SET e = 'f';
UPDATE x5 SET k = 2, e = 'g';
UPDATE x5 SET v = 'b', e = 'h';
});
($n, $bad, $msg) = check(qw(h5 p5));
my $ops5 = sql(q{SELECT ops('x5')});
attempt($bad eq '0' && $ops5 eq 'upsert 1; delete 1; upsert 2; upsert 2',
	"5: numeric scale, char(n) padding, fast defaults (array/composite/numeric/text), STORAGE/COMPRESSION changes, ALTER TYPE: $msg; exclude: $ops5");

# ---- 6. keys whose text follows a session setting, through types
# _check_key_types does not follow: each is either refused at the hand-made
# trigger's first row, or its upsert (setting 1) and its delete (setting 2)
# must get the same key
sql(q{
CREATE EXTENSION IF NOT EXISTS cube;
CREATE SCHEMA s6;
CREATE TABLE s6.tbl (x int);
CREATE TYPE c6 AS (a int, r daterange);
});
my @sess = (
	# name, key type, value, setting 1, setting 2
	[ 'point',         'point',          q{'(0.30000000000000004,1)'},        q{SET extra_float_digits = 1}, q{SET extra_float_digits = 0} ],
	[ 'polygon',       'polygon',        q{'((0.30000000000000004,1),(2,3),(4,5))'}, q{SET extra_float_digits = 1}, q{SET extra_float_digits = 0} ],
	[ 'cube',          'cube',           q{'(0.30000000000000004)'},          q{SET extra_float_digits = 1}, q{SET extra_float_digits = 0} ],
	[ 'daterange',     'daterange',      q{'[2024-01-02,2024-02-03)'},        q{SET DateStyle = 'ISO, MDY'}, q{SET DateStyle = 'SQL, DMY'} ],
	[ 'tsrange',       'tsrange',        q{'[2024-01-02 03:04,2024-02-03 04:05)'}, q{SET DateStyle = 'ISO, MDY'}, q{SET DateStyle = 'German'} ],
	[ 'datemultirange','datemultirange', q{'{[2024-01-02,2024-02-03)}'},      q{SET DateStyle = 'ISO, MDY'}, q{SET DateStyle = 'Postgres, MDY'} ],
	[ 'daterange[]',   'daterange[]',    q{'{"[2024-01-02,2024-02-03)"}'},    q{SET DateStyle = 'ISO, MDY'}, q{SET DateStyle = 'SQL, DMY'} ],
	[ 'composite with daterange', 'c6',  q{ROW(1, '[2024-01-02,2024-02-03)')}, q{SET DateStyle = 'ISO, MDY'}, q{SET DateStyle = 'SQL, DMY'} ],
	[ 'bytea',         'bytea',          q{'\x41'},                           q{SET bytea_output = 'hex'}, q{SET bytea_output = 'escape'} ],
	[ 'regclass',      'regclass',       q{'s6.tbl'},                         q{SET search_path = s6, public}, q{SET search_path = public} ],
	[ 'regtype',       'regtype',        q{'c6'},                             q{SET search_path = public}, q{SET search_path = pg_catalog} ],
	[ 'date (control)','date',           q{'2024-01-02'},                     q{SET DateStyle = 'ISO, MDY'}, q{SET DateStyle = 'SQL, DMY'} ],
	[ 'timestamp[] (control)', 'timestamp[]', q{'{"2024-01-02 03:04:05"}'},   q{SET DateStyle = 'ISO, MDY'}, q{SET DateStyle = 'German'} ],
	[ 'time (control)', 'time',          q{'03:04:05.5'},                     q{SET DateStyle = 'ISO, MDY'}, q{SET DateStyle = 'German'} ],
);
my $i6 = 0;
for my $c (@sess)
{
	my ($name, $type, $val, $s1, $s2) = @$c;
	$i6++;
	my $t = "s6k$i6";
	sql(qq{CREATE TABLE public.$t (k $type, v text); SELECT bindp('public.$t', '{"key": "k"}');});
	my $ins = try(qq{$s1; INSERT INTO public.$t VALUES ($val, 'a');});
	if ($ins ne 'ok')
	{
		my $refused = $ins =~ /whose text does not identify a row/;
		attempt($refused, "6 $name: key refused at the first row: " . (split /\n/, $ins)[0]);
		next;
	}
	sql(qq{$s2; DELETE FROM public.$t;});
	my $ops = sql(qq{SELECT ops('$t')});
	my $same = sql(qq{SELECT count(DISTINCT o.row_key) = 1 FROM webflow.outbox o JOIN webflow.bindings b ON b.id = o.binding_id
	                  WHERE b.source = 'public.$t'::regclass});
	attempt($same eq 't', "6 $name: accepted; upsert ($s1) and delete ($s2) get one key: $ops");
}

# ---- 7. the key's type altered to a refused one after the binding was
# registered: the binding stays and nothing checks the new type
sql(q{
CREATE TABLE a7 (k text, v text);
SELECT bindp('a7', '{"key": "k"}');
INSERT INTO a7 VALUES ('2024-01-01 00:00:00+00', 'a');
DELETE FROM a7;
});
my $alter7 = try(q{ALTER TABLE a7 ALTER COLUMN k TYPE timestamptz USING k::timestamptz;});
my $ins7 = $alter7 eq 'ok' ? try(q{SET TimeZone = 'UTC'; INSERT INTO a7 VALUES ('2024-01-01 00:00:00+00', 'b');}) : $alter7;
if ($ins7 ne 'ok')
{
	attempt($ins7 =~ /whose text does not identify a row/,
		"7: key altered to timestamptz after binding: refused (" . ($alter7 eq 'ok' ? 'at the next row' : 'the ALTER TABLE') . "): " . (split /\n/, $ins7)[0]);
}
else
{
	sql(q{SET TimeZone = 'Asia/Kolkata'; DELETE FROM a7;});
	my $ops7 = sql(q{SELECT ops('a7')});
	my $same7 = sql(q{SELECT count(DISTINCT o.row_key) = 2 FROM webflow.outbox o JOIN webflow.bindings b ON b.id = o.binding_id
	                  WHERE b.source = 'a7'::regclass});
	attempt($same7 eq 't', "7: key altered text -> timestamptz after the binding was registered: accepted; upsert (UTC) and delete (Asia/Kolkata): $ops7");
}

# ---- 8. performance: a 50 MB TOASTed column left unchanged (or re-set to
# an equal value) by an UPDATE; the same table without the trigger
sql(q{
CREATE TABLE big8 (k int PRIMARY KEY, v text, big text);
CREATE TABLE big8n (k int PRIMARY KEY, v text, big text);
SELECT bindp('big8', '{}');
INSERT INTO big8n SELECT 1, 'a', string_agg(md5(g::text), '') FROM generate_series(1, 1600000) g;
INSERT INTO big8 SELECT * FROM big8n;
});
my $before8 = sql(q{SELECT count(*) FROM webflow.outbox});
sub timed { my $t0 = Time::HiRes::time(); sql($_[0]); return Time::HiRes::time() - $t0; }
my %t8;
for my $u ([ 'same', q{UPDATE %s SET v = v} ], [ 'rebuilt', q{UPDATE %s SET big = big || ''} ])
{
	my ($label, $q) = @$u;
	my ($w, $wo) = (0, 0);
	for (1 .. 3)
	{
		$wo += timed(sprintf($q, 'big8n'));
		$w  += timed(sprintf($q, 'big8'));
	}
	$t8{$label} = [ $w / 3, $wo / 3 ];
}
my $queued8 = sql(q{SELECT count(*) FROM webflow.outbox}) - $before8;
my $t_up = timed(q{UPDATE big8 SET v = 'b'});
my $t_upn = timed(q{UPDATE big8n SET v = 'b'});
my $slow8 = grep { $t8{$_}[0] > 3 * $t8{$_}[1] + 0.5 } keys %t8;
attempt(!$slow8 && $queued8 == 0,
	sprintf("8: UPDATE of a row with an unchanged 50 MB TOASTed column: SET v = v %.2f s vs %.2f s without the trigger, SET big = big || '' %.2f s vs %.2f s; %d queued (0 expected); (a real change, upsert of the 50 MB image: %.2f s vs %.2f s)",
		@{ $t8{same} }, @{ $t8{rebuilt} }, $queued8, $t_up, $t_upn));

# ---- 9. the server log: no crash
my $log = slurp_file($node->logfile);
my @crash = grep { /TRAP|terminated by signal|server process .* was terminated|PANIC/ } split /\n/, $log;
attempt(!@crash, '9: no crash in the server log' . (@crash ? ": $crash[0]" : ''));

attack_summary('key-change-attack');
done_testing();
