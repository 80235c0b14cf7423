# t/020_payload_property.pl: item_payload property test.  For 10,000 rows
# generated with a fixed seed (every field type of the Books collection of
# test/fixture.json, each in several source forms: names with accents,
# apostrophes, emoji and CJK, dates as date/timestamp/timestamptz/text,
# options by name, id or in lower case, references by id or by source row
# key, images as URLs or objects), every payload that
# webflow.item_payload builds must be accepted by webflow.create_live_items,
# first against the local Webflow fake, then through the Prism proxy that
# validates each request against Webflow's OpenAPI spec.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $rows = 10_000;
my $root = $ENV{TESTDIR} || '.';
my $books = '580e63fc8c9a982ac9b8b746';

# the local Webflow fake and the spec proxy (the vendored spec, see test/services)
my $services = PostgreSQL::Test::Utils::tempdir();
system('bash', "$root/test/services", 'start', $services) == 0
  or BAIL_OUT('could not start test/services');
my %env = map { /^(\w+)=(.*)$/ ? ($1 => $2) : () }
  split /\n/, slurp_file("$services/env");
END { system('bash', "$root/test/services", 'stop', $services) if $services; }

my $node = PostgreSQL::Test::Cluster->new('payload_property');
$node->init;
$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'webflow'
webflow.token = 'test-token'
webflow.api_url = '$env{WEBFLOW_FAKE_URL}'
});
$node->start;

$node->safe_psql('postgres', qq{
CREATE EXTENSION webflow;
SELECT webflow.refresh_schema('$books');
INSERT INTO webflow.items (collection_id, source_key, item_id) VALUES
    ('580e63fc8c9a982ac9b8b747', 'adams', '62b720ef280c7a7a3be8cab0'),
    ('580e63fc8c9a982ac9b8b747', '7', '62b720ef280c7a7a3be8cab5'),
    ('580e63fc8c9a982ac9b8b748', '1', '62b720ef280c7a7a3be8cab1'),
    ('580e63fc8c9a982ac9b8b748', '2', '62b720ef280c7a7a3be8cab2'),
    ('580e63fc8c9a982ac9b8b748', '[3, "x"]', '62b720ef280c7a7a3be8cab6');
});
is($node->safe_psql('postgres',
		"SELECT count(*) FROM webflow.collection_fields WHERE collection_id = '$books'"),
	'19', 'refresh_schema cached the 19 fields of Books');

# pick(a, b, ...) chooses one of its arguments at random
$node->safe_psql('postgres', q{
CREATE FUNCTION pick(VARIADIC jsonb[]) RETURNS jsonb LANGUAGE sql VOLATILE AS
    'SELECT $1[1 + floor(random() * array_length($1, 1))::int]';
SELECT setseed(0.2024);
CREATE TABLE generated AS
SELECT i AS id,
       (pick('"Café"', '"Crème brûlée"', '"L''été"', '"Müller''s"', '"Straße"', '"Ærøskøbing"',
             '"日本語 Title"', '"🚀 Rocket"', '"Hitchhiker’s"', '"Don''t Panic!"', '"  Zoë  "',
             '"ÉCOLE"', '"Łódź -- Ørsted"', '"(Question) 42?"', '"a"') ->> 0)
           || ' ' || i AS name,
       CASE WHEN random() < 0.2 THEN 'given-slug-' || i END AS slug,
       pick(to_jsonb('Plain text ' || i), to_jsonb(i * 1.25), to_jsonb(i % 2 = 0), 'null', '""') AS plain_text,
       pick(to_jsonb('<p>Item <strong>' || i || '</strong></p>'), 'null') AS rich_text,
       pick(to_jsonb('https://example.com/img/' || i || '.png'),
            jsonb_build_object('url', 'https://example.com/img/' || i || '.jpg', 'alt', 'Image ' || i),
            'null') AS main_image,
       pick(jsonb_build_array('https://example.com/g/' || i || 'a.png', 'https://example.com/g/' || i || 'b.png'),
            jsonb_build_array(jsonb_build_object('url', 'https://example.com/g/' || i || '.png', 'alt', 'G')),
            to_jsonb('https://example.com/g/' || i || '.png'), '[]', 'null') AS image_gallery,
       pick(to_jsonb('https://www.youtube.com/watch?v=' || left(md5(i::text), 11)),
            to_jsonb('https://vimeo.com/' || i), 'null') AS intro_video,
       pick(to_jsonb('https://example.com/books/' || i), 'null') AS official_site,
       pick(to_jsonb('author' || i || '@example.com'), 'null') AS contact_email,
       pick(to_jsonb('424-242-' || lpad((i % 10000)::text, 4, '0')), to_jsonb(4242420000 + i), 'null') AS support_phone,
       pick(to_jsonb(i % 1000001), to_jsonb((i * 7 % 1000)::text), to_jsonb((i % 50)::numeric(6, 1)), 'null') AS answer_to_everything,
       pick(to_jsonb(round((random() * 1000)::numeric, 2)), to_jsonb(round((random() * 100)::numeric, 1)::text), '0', 'null') AS price,
       pick(to_jsonb(date '1970-01-01' + i),
            to_jsonb(timestamptz '2000-01-01 00:00:00+00' + i * interval '37 minutes 1.2345 seconds'),
            to_jsonb(timestamp '2020-02-29 23:59:59.999999' - i * interval '1 hour'),
            to_jsonb('2022-11-18 09:30+02'::text), to_jsonb('2022-11-18T09:30:00Z'::text), 'null') AS release_date,
       pick('true', 'false', '"yes"', '"no"', '"t"', '"F"', '1', '0', '" on "', 'null') AS is_featured,
       pick('"#000000"', '"#abc"', '"#ABCDEF80"', '"rgb(255, 0, 0)"', '"rgba(0,0,0,.5)"', '"hsl(120, 100%, 50%)"',
            '"hsla(120deg 100% 50% / 0.3)"', '"RebeccaPurple"', '"transparent"', 'null') AS brand_color,
       pick('"Fiction"', '"Non-fiction"', '"Reference"', '"reference"', '"62b720ef280c7a7a3be8cac0"', '""', 'null') AS category,
       pick('"adams"', '7', '"62b720ef280c7a7a3be8cab0"', '"62b720ef280c7a7a3be8cab5"', 'null') AS author,
       pick('[1, 2]', '[[3, "x"]]', '["62b720ef280c7a7a3be8cab6", 1]', '2', '[]', 'null') AS tags,
       pick(to_jsonb('https://example.com/files/' || i || '.pdf'),
            jsonb_build_object('url', 'https://example.com/files/' || i || '.pdf'), 'null') AS downloadable_asset,
       random() < 0.1 AS hidden
FROM generate_series(1, } . $rows . q{) AS i;
});

my $options = qq{'{"exclude": ["id"], "draft": "hidden", "collection": "$books"}'};
my $create = qq{
SELECT count(*) FROM webflow.create_live_items('$books',
    (SELECT jsonb_agg(webflow.item_payload(to_jsonb(g), $options) ORDER BY g.id) FROM generated g)) AS c
};

# the payloads themselves: well formed, none dropped
is($node->safe_psql('postgres', qq{
SELECT count(*) FROM generated g, webflow.item_payload(to_jsonb(g), $options) AS p
WHERE p->'fieldData'->>'slug' ~ '^[a-z0-9]+(-[a-z0-9]+)*\$'
  AND p->'fieldData'->>'name' = g.name
  AND jsonb_typeof(p->'isDraft') = 'boolean'
}), $rows, "$rows payloads have a name and a well-formed slug");

# accepted by the local Webflow
is($node->safe_psql('postgres', $create), $rows,
	"the local Webflow accepts all $rows items");
is($node->safe_psql('postgres',
		"SELECT count(*) FROM webflow.list_live_items('$books') AS i WHERE i->'fieldData'->>'slug' LIKE 'given-slug-%'"),
	$node->safe_psql('postgres', 'SELECT count(*) FROM generated WHERE slug IS NOT NULL'),
	'the items are live with their given slugs');

# accepted through the spec-validating proxy
SKIP:
{
	skip 'Prism is not available', 1 unless $env{WEBFLOW_PRISM_URL};
	$node->safe_psql('postgres',
		"SET webflow.api_url = '$env{WEBFLOW_FAKE_ADMIN}'; SELECT webflow.request('POST', '/reset')");
	is($node->safe_psql('postgres',
			"SET webflow.api_url = '$env{WEBFLOW_PRISM_URL}'; $create"),
		$rows, "the spec proxy accepts all $rows items");
}

$node->stop;
done_testing();
