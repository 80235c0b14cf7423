-- payload_item: webflow.item_payload without a collection schema: names,
-- slugs, flags, value formats, options and their errors.
\pset null '(null)'
SET TimeZone = 'Europe/Berlin';

-- the function's declaration
SELECT provolatile, proisstrict, proparallel FROM pg_proc
WHERE oid = 'webflow.item_payload(jsonb, jsonb)'::regprocedure;

-- a row of every common column type
CREATE TEMP TABLE things (
    id          int,
    name        text,
    body        text,
    price       numeric,
    rating      float8,
    stock       bigint,
    featured    boolean,
    released_on date,
    starts_at   timestamp,
    updated_at  timestamptz,
    opens       time,
    tags        text[],
    meta        jsonb,
    notes       text
);
INSERT INTO things VALUES
    (1, 'Café Müller''s Guide', '<p>Hello</p>', 12.50, 4.25, 9007199254740993, true,
     '2022-11-18', '2022-11-18 09:30:00.123456', '2022-11-18 09:30:00+02', '08:15',
     '{a,b}', '{"k": [1, 2]}', NULL);
SELECT jsonb_pretty(webflow.item_payload(to_jsonb(t))) FROM things t;

-- exclude, fields (rename and leave out), draft and archived, locale
SELECT jsonb_pretty(webflow.item_payload(to_jsonb(t),
    '{"exclude": ["id", "meta", "tags", "opens"],
      "fields": {"body": "post-body", "notes": null, "rating": "stars"},
      "draft": true, "archived": "featured",
      "locale": "653ad57de882f528b32e810e"}'))
FROM things t;

-- the README's main example: a jobs table
CREATE TEMP TABLE jobs (id serial, name text, url text, department text);
INSERT INTO jobs (name, url, department) VALUES
    ('Senior Data Analyst', 'https://boards.greenhouse.io/webflow/jobs/26567701', 'Data'),
    ('Product Manager', 'https://boards.greenhouse.io/webflow/jobs/31234567', 'Product');
SELECT jsonb_pretty(jsonb_agg(webflow.item_payload(to_jsonb(j), '{"exclude": ["id"]}') ORDER BY j.id))
FROM jobs j;

-- timestamps as to_jsonb writes them become UTC with milliseconds and Z
SELECT v AS to_jsonb_value,
       webflow.item_payload(jsonb_build_object('name', 'x', 'at', v)) -> 'fieldData' -> 'at' AS sent
FROM (VALUES
    (to_jsonb(timestamptz '2022-11-18 00:00:00+00')),
    (to_jsonb(timestamptz '2022-11-18 00:00:00.123456+00')),
    (to_jsonb(timestamp '2022-11-18 00:00:00')),
    (to_jsonb(timestamp '2022-11-18 23:59:59.9999')),
    (to_jsonb(date '2022-11-18')),
    (to_jsonb(date '2024-02-29')),
    ('"2022-11-18T00:00:00+02:00"'),
    ('"2022-11-18T01:00:00-05:30"'),
    ('"1800-01-01T00:00:00+00:53:28"'),
    ('"2022-12-31T23:30:00-01:00"'),
    ('"0001-01-01T00:30:00+01:00"'),
    ('"9999-12-31T23:30:00-01:00"')) AS v(v);

-- timestamptz follows the session time zone in to_jsonb; the item does not
SET TimeZone = 'Asia/Kolkata';
SELECT to_jsonb(timestamptz '2022-11-18 09:30:00+00') AS to_jsonb_value,
       webflow.item_payload(jsonb_build_object('name', 'x', 'at', timestamptz '2022-11-18 09:30:00+00')) -> 'fieldData' -> 'at' AS sent;
SET TimeZone = 'America/St_Johns';
SELECT to_jsonb(timestamptz '2022-11-18 09:30:00+00') AS to_jsonb_value,
       webflow.item_payload(jsonb_build_object('name', 'x', 'at', timestamptz '2022-11-18 09:30:00+00')) -> 'fieldData' -> 'at' AS sent;
SET TimeZone = 'Europe/Berlin';

-- strings that are not exactly a to_jsonb date or timestamp pass through
SELECT v AS value,
       webflow.item_payload(jsonb_build_object('name', 'x', 'v', v)) -> 'fieldData' -> 'v' = v AS unchanged
FROM (VALUES
    (to_jsonb('2022-11-18 09:30:00'::text)),
    (to_jsonb('2022-11-18T09:30:00Z'::text)),
    (to_jsonb('2022-11-18T09:30'::text)),
    (to_jsonb('2022-11-18T09:30:00+0200'::text)),
    (to_jsonb('2022-11-18T09:30:00.1234567'::text)),
    (to_jsonb('2022-11-18 is a Friday'::text)),
    (to_jsonb('2022-13-01'::text)),
    (to_jsonb('2023-02-29'::text)),
    (to_jsonb('2022-11-18T24:00:00'::text)),
    (to_jsonb(timestamptz 'infinity')),
    (to_jsonb(timestamp '10000-01-01 00:00:00')),
    (to_jsonb(date '0044-03-15 BC')),
    (to_jsonb(time '09:30:00')),
    (to_jsonb('12345-67-89'::text))) AS v(v);

-- name: from "name", else from "title", else from the column mapped to it
SELECT webflow.item_payload('{"title": "From Title", "body": "b"}');
SELECT webflow.item_payload('{"name": "Name", "title": "Title"}');
SELECT webflow.item_payload('{"headline": "Mapped", "title": "Title"}', '{"fields": {"headline": "name"}}');
SELECT webflow.item_payload('{"name": 42}');
SELECT webflow.item_payload('{"name": "2022-11-18"}');

-- slug: a slug column wins when not empty, else the name is slugified
SELECT webflow.item_payload('{"name": "Hello World", "slug": "custom-slug-1"}');
SELECT webflow.item_payload('{"name": "Hello World", "slug": ""}');
SELECT webflow.item_payload('{"name": "Hello World", "slug": null}');
SELECT webflow.item_payload('{"name": "Hello World", "permalink": "from-permalink"}', '{"fields": {"permalink": "slug"}}');

-- column names become kebab-case field slugs
SELECT webflow.item_payload('{"name": "x", "Main_Image_URL": "u", "two words": 2}');

-- flags from columns: booleans, or text and numbers that read as booleans;
-- null is false; a flag column is never a field, even when excluded
SELECT webflow.item_payload('{"name": "x", "hidden": true, "gone": "yes"}',
                            '{"draft": "hidden", "archived": "gone", "exclude": ["hidden"]}');
SELECT v, webflow.item_payload(jsonb_build_object('name', 'x', 'hidden', v), '{"draft": "hidden"}') -> 'isDraft' AS is_draft
FROM (VALUES ('true'::jsonb), ('false'), ('"yes"'), ('"off"'), ('"t"'), ('1'), ('0'), ('null')) AS v(v);

-- NULL inputs: no row, no item; no options, the defaults
SELECT webflow.item_payload(NULL) IS NULL AS null_row;
SELECT webflow.item_payload(NULL, '{"draft": true}') IS NULL AS null_row_with_options;
SELECT webflow.item_payload('{"name": "x"}', NULL);

-- options that change from row to row are parsed again
SELECT n, webflow.item_payload('{"name": "x"}', jsonb_build_object('draft', n % 2 = 0)) -> 'isDraft' AS is_draft
FROM generate_series(1, 4) AS n;

-- rows of different shapes in one query
SELECT webflow.item_payload(r) FROM (VALUES
    ('{"name": "a", "x": 1}'::jsonb), ('{"name": "b", "y": 2}'), ('{"name": "c", "x": 3}')) AS v(r);

-- errors: the options
SELECT webflow.item_payload('{"name": "x"}', '{"exclude": ["id"], "colection": "x"}');
SELECT webflow.item_payload('{"name": "x"}', '[]');
SELECT webflow.item_payload('{"name": "x"}', '{"fields": ["name"]}');
SELECT webflow.item_payload('{"name": "x"}', '{"fields": {"a": 1}}');
SELECT webflow.item_payload('{"name": "x"}', '{"exclude": "id"}');
SELECT webflow.item_payload('{"name": "x"}', '{"exclude": [1]}');
SELECT webflow.item_payload('{"name": "x"}', '{"draft": 1}');
SELECT webflow.item_payload('{"name": "x"}', '{"archived": "gone"}');
SELECT webflow.item_payload('{"name": "x"}', '{"locale": "en"}');
SELECT webflow.item_payload('{"name": "x"}', '{"collection": ""}');
SELECT webflow.item_payload('{"name": "x"}', '{"collection": "Books"}');

-- errors: the row
SELECT webflow.item_payload('[1, 2]');
SELECT webflow.item_payload('"a row"');
SELECT webflow.item_payload('{"id": 1, "body": "no name"}');
SELECT webflow.item_payload('{"name": ""}');
SELECT webflow.item_payload('{"name": null}');
SELECT webflow.item_payload('{"name": {"en": "x"}}');
SELECT webflow.item_payload('{"name": "東京"}');
SELECT webflow.item_payload('{"name": "x", "slug": "Not A Slug"}');
SELECT webflow.item_payload('{"name": "x", "slug": 12}');
SELECT webflow.item_payload('{"name": "x", "hidden": "maybe"}', '{"draft": "hidden"}');
SELECT webflow.item_payload('{"name": "x", "the_body": "a", "the-body": "b"}');
SELECT webflow.item_payload('{"name": "x", "a": 1, "b": 2}', '{"fields": {"b": "a"}}');
-- a long value is cut in the message
SELECT webflow.item_payload(jsonb_build_object('name', 'x', 'slug', repeat('Long ', 100)));
