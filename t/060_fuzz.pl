# t/060_fuzz.pl: generated input for webflow.item_payload and webflow.slugify.
#
# A seeded generator (FUZZ_SEED, default fixed) writes batches of inputs:
# rows and options as jsonb text (deep nesting, every scalar type, numbers at
# the limits of jsonb and of doubles, odd unicode written raw and as \u
# escapes, surrogate pairs and a few lone surrogates, long keys, NUL-free
# strings up to 1.5 MB, dates, colors, booleans and numbers as text, nearly
# right and wrong), against no schema, the fixture's Books schema, a schema
# with validations and generated schemas; and text for slugify in UTF-8,
# LATIN1 and SQL_ASCII databases (random bytes, broken UTF-8).  Each input
# runs in its own subtransaction: errors are counted by SQLSTATE, and any
# crash or sanitizer report fails the test.  The run is bounded by
# FUZZ_SECONDS (default 25) and FUZZ_MAX inputs.
#
# scripts/fuzz runs this test against an -fsanitize=address,undefined build:
# it sets WEBFLOW_FUZZ_PRELOAD to the sanitizer runtimes, which the server
# is then started with (LD_PRELOAD), and checks that they are loaded.
use strict;
use warnings;
use Encode ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes ();

my $seed    = $ENV{FUZZ_SEED}    // 20261127;
my $seconds = $ENV{FUZZ_SECONDS} // 25;
my $max     = $ENV{FUZZ_MAX}     // 1_000_000_000;
my $preload = $ENV{WEBFLOW_FUZZ_PRELOAD} // '';
note("seed $seed, at most $seconds s and $max inputs"
	  . ($preload ? ", sanitizer runtimes: $preload" : ''));
srand($seed);

my $books = '580e63fc8c9a982ac9b8b746';
my $valid = 'c0c0c0c0c0c0c0c0c0c0c0c0';
my @generated_schemas = map { sprintf('f0000000000000000000000%d', $_) } 0 .. 5;

my $node = PostgreSQL::Test::Cluster->new('fuzz');
$node->init;
$node->append_conf('postgresql.conf', q{
shared_preload_libraries = 'webflow'
webflow.token = 'fuzz-token'
webflow.api_url = 'http://127.0.0.1:9/v2'
webflow.worker_enabled = off
log_min_messages = warning
restart_after_crash = on
max_stack_depth = '2MB'
});
{
	local $ENV{LD_PRELOAD} = $preload if $preload;
	$node->start;
}
if ($preload)
{
	my $pid  = $node->safe_psql('postgres', 'SELECT pg_backend_pid()');
	my $maps = slurp_file("/proc/$pid/maps");
	like($maps, qr/libasan/, 'the server runs with the AddressSanitizer runtime');
	like($maps, qr/webflow\.so/, 'webflow.so is loaded');
}

# ---------------------------------------------------------------------
# databases, schemas, the runner
# ---------------------------------------------------------------------
my $runner = q{
CREATE TABLE fuzz_input (id int, kind text, a text, b text);
CREATE FUNCTION fuzz_run() RETURNS TABLE (outcome text, n bigint) LANGUAGE plpgsql AS $$
DECLARE
    r record;
    counts jsonb := '{}';
    st text;
BEGIN
    FOR r IN SELECT * FROM fuzz_input ORDER BY id LOOP
        BEGIN
            IF r.kind = 'payload' THEN
                PERFORM webflow.item_payload(r.a::jsonb, r.b::jsonb);
            ELSIF r.kind = 'slugify' THEN
                PERFORM webflow.slugify(r.a);
            END IF;
            st := 'ok';
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE;
        END;
        counts := jsonb_set(counts, ARRAY[st], to_jsonb(coalesce((counts->>st)::int, 0) + 1));
    END LOOP;
    RETURN QUERY SELECT key, value::bigint FROM jsonb_each_text(counts);
END $$;
};
$node->safe_psql('postgres', "CREATE EXTENSION webflow; $runner");
$node->safe_psql('postgres', q{CREATE DATABASE fuzz_latin1 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0});
$node->safe_psql('postgres', q{CREATE DATABASE fuzz_ascii ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0});
$node->safe_psql($_, "CREATE EXTENSION webflow; $runner") for qw(fuzz_latin1 fuzz_ascii);

my @types = qw(PlainText RichText Email Phone Link VideoLink Number Switch DateTime Color
  Option Image File MultiImage Reference MultiReference User ExtFileRef Mystery);
my %books_fields = (
	'name' => 'PlainText', 'slug' => 'PlainText', 'plain-text' => 'PlainText',
	'rich-text' => 'RichText', 'main-image' => 'Image', 'image-gallery' => 'MultiImage',
	'intro-video' => 'VideoLink', 'official-site' => 'Link', 'contact-email' => 'Email',
	'support-phone' => 'Phone', 'answer-to-everything' => 'Number', 'price' => 'Number',
	'release-date' => 'DateTime', 'is-featured' => 'Switch', 'brand-color' => 'Color',
	'category' => 'Option', 'author' => 'Reference', 'tags' => 'MultiReference',
	'downloadable-asset' => 'File');
my %books_validations = (
	'answer-to-everything' => '{"format": "integer", "allowNegative": false, "allowZero": true, "minValue": 0, "maxValue": 1000000}',
	'price' => '{"format": "decimal", "precision": 2, "allowNegative": false, "allowZero": true}',
	'category' => '{"options": [{"name": "Fiction", "id": "62b720ef280c7a7a3be8cabf"}, {"name": "Non-fiction", "id": "62b720ef280c7a7a3be8cac0"}, {"name": "Reference", "id": "62b720ef280c7a7a3be8cac1"}]}',
	'author' => '{"collectionId": "580e63fc8c9a982ac9b8b747"}',
	'tags'   => '{"collectionId": "580e63fc8c9a982ac9b8b748"}');
my %valid_fields = (
	'name' => [ 'PlainText', '{"maxLength": 40}' ], 'slug' => [ 'PlainText', undef ],
	'code' => [ 'PlainText', '{"singleLine": true, "maxLength": 8}' ],
	'qty' => [ 'Number', '{"allowZero": false, "allowNegative": true, "minValue": -5, "maxValue": 10.5, "format": "decimal"}' ],
	'count' => [ 'Number', '{"format": "integer", "minValue": -9223372036854775808, "maxValue": 1e300}' ],
	'ref' => [ 'Reference', '{}' ], 'refs' => [ 'MultiReference', '{"collectionId": "580e63fc8c9a982ac9b8b748"}' ],
	'widget' => [ 'ExtFileRef', undef ], 'owner' => [ 'User', undef ]);

# ---------------------------------------------------------------------
# the generator
# ---------------------------------------------------------------------
sub pick { return $_[ int(rand(@_)) ]; }
sub chance { return rand() < $_[0]; }

# code points by family (no surrogates, no U+0000)
my @families = (
	[ 0x20, 0x7e ], [ 0x01, 0x1f ], [ 0xa0, 0xff ], [ 0x100, 0x24f ], [ 0x1e00, 0x1eff ],
	[ 0x300, 0x36f ], [ 0xff01, 0xff5e ], [ 0xfb00, 0xfb06 ], [ 0x4e00, 0x9fff ],
	[ 0x1f300, 0x1faff ], [ 0x590, 0x6ff ], [ 0x200b, 0x206f ], [ 0xfe00, 0xfeff ],
	[ 0xe000, 0xf8ff ], [ 0xfff0, 0xffff ], [ 0x10000, 0x10ffff ], [ 0x2018, 0x2019 ],
	[ 0x2bc, 0x2bc ], [ 0xad, 0xad ]);

sub gen_text
{
	my ($len) = @_;
	my $fam = pick(@families);
	my $s = '';
	for (1 .. $len)
	{
		$fam = pick(@families) if chance(0.2);
		my $c = $fam->[0] + int(rand($fam->[1] - $fam->[0] + 1));
		$c = 0x20 if $c >= 0xd800 && $c <= 0xdfff;
		$s .= chr($c);
	}
	return $s;
}

my @templates = (
	'2024-02-29', '2024-02-29T12:34:56', '2024-02-29T12:34:56.123456', '2024-02-29T12:34:56+05:30',
	'2024-02-29T12:34:56Z', '2024-02-29 12:34', '2024-02-29T12:34:56-0800', '2024-02-29T12:34:56+15:59:59',
	'9999-12-31T23:59:59.999999-15:59', '0001-01-01T00:00:00+15:00', '2023-02-29', '2024-13-01',
	'2024-01-01T24:00:00', '1970-01-01T00:00:00.', '2024-1-1', '+2024-01-01', '2024-01-01T00:00:00+1',
	'#fff', '#ffff', '#12345678', '#1234567', '#', 'rgb(1,2,3)', 'rgba(1, 2, 3, 0.5)', 'hsl(120 50% 50%)',
	'hsla(', 'RGB(1,2,3)', 'rebeccapurple', 'transparent', 'reda', 'url(x)', 'rgb()',
	'yes', 'no', 't', 'f', 'on', 'off', ' 1 ', '0', 'TRUE', 'maybe', '',
	'42', ' 42 ', '-0', '+.5', '.5', '5.', '1e5', '1E-5', '1e9999', '1e99999', '-1e-9999', 'NaN',
	'-Infinity', '0x1F', '1,000', '1_000', '١٢٣', '1e', '-', '.', '12abc',
	'https://example.com/a.png', 'http://[::1]/x', 'mailto:x@y', 'javascript:alert(1)', '//x',
	'62b720ef280c7a7a3be8cab0', '62B720EF280C7A7A3BE8CAB0', 'adams', '7', '[7, "en"]',
	'Fiction', 'fiction', 'Non-fiction', '62b720ef280c7a7a3be8cac1');

sub mutate
{
	my ($s) = @_;
	my $n = int(rand(3));
	for (1 .. $n)
	{
		my $pos = length($s) ? int(rand(length($s))) : 0;
		my $op  = int(rand(4));
		if    ($op == 0) { substr($s, $pos, 1) = chr(0x20 + int(rand(95))) if length($s); }
		elsif ($op == 1) { substr($s, $pos, 0) = gen_text(1 + int(rand(3))); }
		elsif ($op == 2) { $s = substr($s, 0, $pos); }
		else             { $s .= $s if length($s) < 1000; }
	}
	return $s;
}

my $huge_budget = 12;    # strings of 100 KB and more per run

sub gen_string
{
	my $r = rand();
	return pick(@templates) if $r < 0.35;
	return mutate(pick(@templates)) if $r < 0.55;
	if ($r < 0.552 && $huge_budget > 0)
	{
		$huge_budget--;
		my $chunk = gen_text(1 + int(rand(40)));
		my $len = 100_000 + int(rand(1_400_000));
		return substr($chunk x (1 + int($len / length($chunk))), 0, $len);
	}
	return gen_text(int(rand(rand() < 0.9 ? 20 : 3000)));
}

my @numbers = (
	'0', '-0', '1', '-1', '42', '2147483647', '-2147483648', '4294967296', '9007199254740993',
	'9223372036854775807', '-9223372036854775808', '18446744073709551616', '0.1', '-0.0',
	'1e308', '1.7976931348623157e308', '-1.7976931348623157e308', '1e309', '2.2250738585072014e-308',
	'4.9e-324', '1e-400', '1e400', '1e1000', '-1e-1000', '123456789012345678901234567890.123456789',
	'0.000000000000000000000000000001', '1E+2', '1.5', '4.2', '1000000', '1000001', '10.5', '10.51',
	'-5', '-5.0000001');

sub gen_number
{
	return pick(@numbers) if chance(0.7);
	return ('9' x (1 + int(rand(1000)))) if chance(0.3);
	return sprintf('%s%d.%de%s%d', pick('', '-'), int(rand(1000)), int(rand(1000)),
		pick('', '-', '+'), int(rand(400)));
}

# js_string(TEXT): a JSON string, non-ASCII raw or \u-escaped at random
my $lone_budget = 0;
sub js_string
{
	my ($s) = @_;
	my $escape = length($s) < 2000 && chance(0.3);
	if (!$escape)
	{
		(my $t = $s) =~ s/(["\\])/\\$1/g;
		$t =~ s/([\x00-\x1f])/sprintf('\\u%04x', ord $1)/ge;
		return qq{"$t"};
	}
	my $out = '"';
	for my $ch (split //, $s)
	{
		my $o = ord $ch;
		if    ($ch eq '"')  { $out .= '\\"'; }
		elsif ($ch eq '\\') { $out .= '\\\\'; }
		elsif ($o < 0x20)   { $out .= sprintf('\\u%04x', $o); }
		elsif ($escape && $o >= 0x80 && chance(0.5))
		{
			if ($o > 0xffff)
			{
				my $v = $o - 0x10000;
				$out .= sprintf('\\u%04x\\u%04x', 0xd800 + ($v >> 10), 0xdc00 + ($v & 0x3ff));
			}
			else { $out .= sprintf('\\u%04X', $o); }
		}
		else { $out .= $ch; }
	}
	# now and then a lone or reversed surrogate, or NUL: jsonb must refuse it
	if ($escape && chance(0.01))
	{
		$out .= pick('\\ud800', '\\udfff', '\\udc00\\ud800', '\\u0000', '\\uD83D');
	}
	return $out . '"';
}

sub gen_value
{
	my ($depth) = @_;
	my $r = rand();
	return pick('null', 'true', 'false') if $r < 0.1;
	return gen_number() if $r < 0.25;
	return js_string(gen_string()) if $r < 0.75 || $depth > 6;
	if ($r < 0.77)
	{
		# deep nesting
		my $d = 1 + int(rand(chance(0.2) ? 3000 : 60));
		my ($open, $close) = chance(0.5) ? ('[', ']') : ('{"k":', '}');
		return ($open x $d) . gen_value(7) . ($close x $d);
	}
	if ($r < 0.88)
	{
		my $n = int(rand(6));
		return '[' . join(', ', map { gen_value($depth + 1) } 1 .. $n) . ']';
	}
	my $n = int(rand(6));
	return '{' . join(', ', map { js_string(gen_key()) . ': ' . gen_value($depth + 1) } 1 .. $n) . '}';
}

sub gen_key
{
	my $r = rand();
	return pick('name', 'title', 'slug', 'id', 'url', 'fileId', 'alt', 'is_draft', 'a_b', 'a-b', 'A B')
	  if $r < 0.5;
	return gen_text(1000 + int(rand(60000))) if $r < 0.52;
	return gen_text(1 + int(rand(30)));
}

# value(TYPE): a value for a field of TYPE, mostly of the right shape
sub value_for
{
	my ($type) = @_;
	return gen_value(0) if chance(0.3);
	return js_string(pick(grep { /^\d{4}|^\+?\d{4}/ } @templates)) if $type eq 'DateTime' && chance(0.7);
	return js_string(pick(grep { /^#|rgb|hsl|RGB|purple|transparent|red/ } @templates)) if $type eq 'Color';
	return (chance(0.5) ? gen_number() : js_string(pick(@numbers, '12abc', ' 7 '))) if $type eq 'Number';
	return pick('true', 'false', '"yes"', '"off"', '1', '0', '"maybe"', '2') if $type eq 'Switch';
	return js_string(pick('Fiction', 'fiction', 'FICTION', '62b720ef280c7a7a3be8cac1', 'Poetry', ''))
	  if $type eq 'Option';
	if ($type =~ /Image|File/)
	{
		my $one = pick(js_string('https://example.com/' . gen_text(5) . '.png'),
			'{"url": ' . js_string(gen_string()) . ', "alt": ' . js_string(gen_string()) . '}',
			'{"fileId": "62b720ef280c7a7a3be8cab0"}', '{"alt": "x"}', '5', 'null');
		return $type eq 'MultiImage' && chance(0.6) ? "[$one, $one]" : $one;
	}
	if ($type =~ /Reference/)
	{
		my $one = pick('"adams"', '7', '"7"', '"62b720ef280c7a7a3be8cab0"', '[7, "en"]', '[3, "x"]',
			'"nobody"', '1', '2', js_string(gen_text(200)), '{"id": 1}', 'true');
		return $type eq 'MultiReference' && chance(0.6) ? "[$one, $one, 2]" : $one;
	}
	return js_string(gen_string());
}

sub gen_object
{
	my ($fields) = @_;    # slug => type, or undef
	my @pairs;
	my %seen;
	push @pairs, [ 'name', pick(js_string(gen_string()), js_string('Item ' . gen_text(int(rand(12))) . ' ' . int(rand(1e6))),
			js_string('Item ' . int(rand(1e6))), gen_value(0)) ] if chance(0.9);
	push @pairs, [ 'slug', chance(0.5) ? js_string(lc(gen_text(8)) =~ s/[^a-z0-9-]//gr) : gen_value(0) ]
	  if chance(0.25);
	if ($fields)
	{
		for my $slug (keys %$fields)
		{
			next if $slug eq 'name' || $slug eq 'slug' || !chance(0.5);
			push @pairs, [ chance(0.1) ? ($slug =~ tr/-/_/r) : $slug, value_for($fields->{$slug}) ];
		}
	}
	push @pairs, [ gen_key(), gen_value(0) ] for 1 .. ($fields ? (chance(0.1) ? 1 : 0) : int(rand(6)));
	push @pairs, [ 'is_draft', pick('true', '"t"', '1', 'null', '"x"') ] if chance(0.1);
	return '{' . join(', ', map { js_string($_->[0]) . ': ' . $_->[1] } grep { !$seen{ $_->[0] }++ } @pairs) . '}';
}

sub gen_options
{
	my ($collection) = @_;
	return undef if !$collection && chance(0.4);
	return gen_value(0) if chance(0.05);
	my @o;
	push @o, '"collection": ' . js_string($collection) if $collection;
	push @o, '"fields": ' . pick('{"title": "name"}', '{"a_b": null}', '{"name": "plain-text", "x": "name"}',
		'{"k": 5}', '[]', 'null', '{}') if chance(0.15);
	push @o, '"exclude": ' . pick('["id"]', '[]', '"id"', '[1]', 'null', '["name"]') if chance(0.15);
	push @o, '"draft": ' . pick('true', 'false', '"is_draft"', '5', 'null', '""') if chance(0.15);
	push @o, '"archived": ' . pick('true', '"nope"', '{}') if chance(0.05);
	push @o, '"locale": ' . pick('"62b720ef280c7a7a3be8cab0"', '"en"', 'null') if chance(0.05);
	push @o, js_string(gen_key()) . ': 1' if chance(0.03);
	return '{' . join(', ', @o) . '}';
}

# a generated schema: any type, validations of any shape
sub gen_validations
{
	my ($type) = @_;
	return 'NULL' if chance(0.2);
	my @v;
	push @v, '"maxLength": ' . pick('0', '1', '10', '-1', '2147483647', '"10"', 'null', '1.5') if chance(0.4);
	push @v, '"singleLine": ' . pick('true', 'false', '"yes"') if chance(0.3);
	push @v, '"minValue": ' . pick(@numbers, '"5"', 'null') if chance(0.3);
	push @v, '"maxValue": ' . pick(@numbers, '[]') if chance(0.3);
	push @v, '"allowNegative": ' . pick('true', 'false', '0') if chance(0.2);
	push @v, '"allowZero": ' . pick('true', 'false') if chance(0.2);
	push @v, '"format": ' . pick('"integer"', '"decimal"', '"int"', '"integers"', '5') if chance(0.3);
	push @v, '"collectionId": ' . pick('"580e63fc8c9a982ac9b8b748"', '"x"', '5', js_string(gen_text(300)))
	  if chance(0.3);
	if (chance(0.5))
	{
		my @opts = map {
			pick('{"name": ' . js_string(gen_string()) . ', "id": "62b720ef280c7a7a3be8cab' . $_ . '"}',
				'{"id": "62b720ef280c7a7a3be8cac' . $_ . '"}', '5', '{"name": 5, "id": "x"}', 'null',
				'{"name": "Fiction"}', '{"name": "Fiction", "id": 7}', '{"name": ' . js_string(gen_string()) . '}')
		} 0 .. int(rand(6));
		push @v, '"options": ' . pick('[' . join(', ', @opts) . ']', '{}', '"x"');
	}
	my $json = '{' . join(', ', @v) . '}';
	$json =~ s/'/''/g;
	return "'$json'";
}

my %gen_schema;
{
	my @rows;
	for my $c (@generated_schemas)
	{
		my %f = (name => 'PlainText');
		push @rows, "('$c', 'name', 'PlainText', " . pick('true', 'false') . ", true, " . gen_validations('PlainText') . ")";
		for my $i (1 .. 3 + int(rand(10)))
		{
			my $slug = "f$i";
			my $type = pick(@types);
			$f{$slug} = $type;
			my $v = gen_validations($type);
			push @rows, "('$c', '$slug', '$type', " . pick('true', 'false') . ', ' . pick('true', 'true', 'false') . ", $v)";
		}
		$gen_schema{$c} = \%f;
	}
	my $books_rows = join ",\n",
	  map { "('$books', '$_', '$books_fields{$_}', " . ($_ =~ /^(name|slug)$/ ? 'true' : 'false') . ", true, "
		  . ($books_validations{$_} ? "'$books_validations{$_}'" : 'NULL') . ')' } sort keys %books_fields;
	my $valid_rows = join ",\n",
	  map { "('$valid', '$_', '$valid_fields{$_}[0]', " . ($_ =~ /^(name|slug|code)$/ ? 'true' : 'false')
		  . ', ' . ($_ eq 'owner' ? 'false' : 'true') . ', '
		  . (defined $valid_fields{$_}[1] ? "'$valid_fields{$_}[1]'" : 'NULL') . ')' } sort keys %valid_fields;
	my $fixed_sql = qq{
INSERT INTO webflow.collection_fields (collection_id, slug, type, is_required, is_editable, validations)
VALUES $books_rows,
$valid_rows;
INSERT INTO webflow.items (collection_id, source_key, item_id) VALUES
    ('580e63fc8c9a982ac9b8b747', 'adams', '62b720ef280c7a7a3be8cab0'),
    ('580e63fc8c9a982ac9b8b747', '7', '62b720ef280c7a7a3be8cab5'),
    ('580e63fc8c9a982ac9b8b748', '1', '62b720ef280c7a7a3be8cab1'),
    ('580e63fc8c9a982ac9b8b748', '2', '62b720ef280c7a7a3be8cab2'),
    ('580e63fc8c9a982ac9b8b748', '[3, "x"]', '62b720ef280c7a7a3be8cab6');
};
	$node->safe_psql($_, $fixed_sql) for qw(postgres fuzz_ascii);
	$node->safe_psql('postgres', Encode::encode('UTF-8',
		  'INSERT INTO webflow.collection_fields (collection_id, slug, type, is_required, is_editable, validations) VALUES '
		  . join(",\n", @rows)));
}
my %books_types = %books_fields;
my %valid_types = map { $_ => $valid_fields{$_}[0] } keys %valid_fields;

# one payload input: (row, options)
sub gen_payload
{
	my $r = rand();
	return (gen_object(undef), gen_options(undef)) if $r < 0.25;
	return (gen_object(\%books_types), gen_options($books)) if $r < 0.55;
	return (gen_object(\%valid_types), gen_options($valid)) if $r < 0.7;
	if ($r < 0.9)
	{
		my $c = pick(@generated_schemas);
		return (gen_object($gen_schema{$c}), gen_options($c));
	}
	return (gen_value(0), gen_options(pick(undef, $books)));
}

sub copy_field
{
	my ($s) = @_;
	return '\N' unless defined $s;
	$s =~ s/\\/\\\\/g;
	$s =~ s/\n/\\n/g;
	$s =~ s/\r/\\r/g;
	$s =~ s/\t/\\t/g;
	return $s;
}

# random bytes (no NUL), now and then around broken UTF-8 sequences
sub gen_bytes
{
	my $len = int(rand(rand() < 0.95 ? 40 : 5000));
	my $b = '';
	while (length($b) < $len)
	{
		my $r = rand();
		if    ($r < 0.4) { $b .= chr(1 + int(rand(255))); }
		elsif ($r < 0.6) { $b .= chr(0x20 + int(rand(95))); }
		elsif ($r < 0.8) { $b .= Encode::encode('UTF-8', gen_text(1)); }
		else
		{
			my $u = Encode::encode('UTF-8', gen_text(1));
			$b .= substr($u, 0, 1 + int(rand(length($u))));    # cut short
		}
	}
	return $b;
}

# ---------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------
my $dir = PostgreSQL::Test::Utils::tempdir();
my %outcomes;
my %per_kind;
my ($tried, $batches, $run_time) = (0, 0, 0);
my $crashed = '';
my $log_start = -s $node->logfile;
my $deadline = Time::HiRes::time() + $seconds;

sub run_batch
{
	my ($db, $kind, $lines) = @_;
	my $t0 = Time::HiRes::time();
	my $file = "$dir/batch.copy";
	open(my $fh, '>:raw', $file) or die $!;
	print $fh $_ for @$lines;
	close $fh;
	local $ENV{PGCLIENTENCODING} = { postgres => 'UTF8', fuzz_latin1 => 'LATIN1', fuzz_ascii => 'SQL_ASCII' }->{$db};
	my ($ret, $out, $err) = $node->psql($db,
		"TRUNCATE fuzz_input;\n\\copy fuzz_input FROM '$file'\nSELECT outcome || ' ' || n FROM fuzz_run();",
		on_error_stop => 1);
	$batches++;
	$run_time += Time::HiRes::time() - $t0;
	if ($ret != 0)
	{
		if ($err =~ /server closed the connection|terminating connection|connection to server was lost/)
		{
			$crashed = "batch $batches ($db, $kind) of seed $seed: $err";
			my $keep = $node->basedir . "/crash-batch-$batches.copy";
			rename($file, $keep);
			diag("the server crashed; inputs kept in $keep");
			return 0;
		}
		die "fuzz batch failed: $err";
	}
	for (split /\n/, $out)
	{
		my ($state, $n) = split / /;
		$outcomes{$state} += $n;
		$per_kind{$kind}{$state} += $n;
		$tried += $n;
	}
	return 1;
}

BATCH:
while (Time::HiRes::time() < $deadline && $tried < $max)
{
	my $phase = $batches % 4;
	my @lines;
	my $n = 500;
	if ($phase == 0 || $phase == 1)
	{
		for my $i (1 .. $n)
		{
			my ($row, $opt) = gen_payload();
			push @lines, Encode::encode('UTF-8', join("\t", $i, 'payload', copy_field($row), copy_field($opt)) . "\n");
		}
		last BATCH unless run_batch('postgres', 'item_payload', \@lines);
	}
	elsif ($phase == 2)
	{
		for my $i (1 .. $n)
		{
			push @lines, Encode::encode('UTF-8', join("\t", $i, 'slugify', copy_field(gen_string()), '\N') . "\n");
		}
		last BATCH unless run_batch('postgres', 'slugify (UTF8)', \@lines);
	}
	else
	{
		my $db = $batches % 8 == 3 ? 'fuzz_latin1' : 'fuzz_ascii';
		for my $i (1 .. $n)
		{
			push @lines, join("\t", $i, 'slugify', copy_field(gen_bytes()), '\N') . "\n";
		}
		# in SQL_ASCII, item_payload derives slugs from names of raw bytes too
		if ($db eq 'fuzz_ascii')
		{
			for my $i ($n + 1 .. $n + 100)
			{
				my $name = gen_bytes();
				$name =~ s/["\\\x00-\x1f]/ /g;
				push @lines, join("\t", $i, 'payload', copy_field(qq{{"name": "$name"}}),
					copy_field(pick('{}', qq{{"collection": "$valid"}}, qq{{"collection": "$books"}}))) . "\n";
			}
		}
		last BATCH unless run_batch($db, $db eq 'fuzz_ascii' ? 'slugify and item_payload (SQL_ASCII)' : 'slugify (LATIN1)', \@lines);
	}
}

my $elapsed = $seconds - ($deadline - Time::HiRes::time());
note(sprintf('%d inputs in %d batches in %.0f s (%.0f s in the server)', $tried, $batches, $elapsed, $run_time));
for my $kind (sort keys %per_kind)
{
	note("$kind: " . join(', ', map { "$_ $per_kind{$kind}{$_}" } sort keys %{ $per_kind{$kind} }));
}
ok($tried >= 1000, "$tried generated inputs tried");
is($crashed, '', 'no input crashed the server');
ok(($outcomes{ok} // 0) > $tried / 20, 'many inputs are accepted (' . ($outcomes{ok} // 0) . ')');
my @states = sort grep { $_ ne 'ok' } keys %outcomes;
my @odd = grep { !/^(22...|23502|23503|54000|54001|55000|WF000)$/ } @states;
is(join(' ', @odd), '', 'errors are data errors (SQLSTATEs: ' . join(' ', @states) . ')');

my $log = substr(slurp_file($node->logfile), $log_start);
unlike($log, qr/terminated by signal|server process .* was terminated/, 'no server process died');
unlike($log, qr/AddressSanitizer|LeakSanitizer|runtime error:|UndefinedBehaviorSanitizer/,
	'no sanitizer report');
unlike($log, qr/PANIC|TRAP:/, 'no PANIC or failed assertion');

# ---------------------------------------------------------------------
# crashes found before, as regression checks
# ---------------------------------------------------------------------
$node->safe_psql('postgres', q{
INSERT INTO webflow.collection_fields (collection_id, slug, type, validations) VALUES
    ('cccccccccccccccccccccccc', 'name', 'PlainText', NULL),
    ('cccccccccccccccccccccccc', 'cat', 'Option', '{"options": [{"name": "A"}, {"name": "B", "id": 5}]}')});
for my $sql (
	q{SELECT webflow.item_payload('{"name": "x", "cat": "A"}', '{"collection": "cccccccccccccccccccccccc"}')},
	q{SELECT webflow.item_payload('{"name": "x", "cat": "B"}', '{"collection": "cccccccccccccccccccccccc"}')},
	q{SELECT webflow._row_key('{"id": 1}', ARRAY[NULL]::text[])},
	q{SELECT webflow._row_key('{"id": 1}', ARRAY['id', NULL])})
{
	my ($ret, $out, $err) = $node->psql('postgres', $sql);
	unlike($err, qr/server closed the connection|connection to server was lost/, "no crash: $sql");
}
my $log_after = substr(slurp_file($node->logfile), $log_start);
unlike($log_after, qr/terminated by signal|AddressSanitizer|runtime error:/,
	'no crash or sanitizer report in the regression checks');

$node->stop('immediate');
done_testing();
