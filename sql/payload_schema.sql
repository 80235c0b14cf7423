-- payload_schema: webflow.item_payload with a collection schema: coercion
-- by field type and validations, references through webflow.items, the
-- webflow.collection_fields cache and webflow.refresh_schema (against the
-- local Webflow fake).
\pset null '(null)'
SET TimeZone = 'Europe/Berlin';

-- the schemas of the fixture's Books, Authors and Tags collections, as Get
-- Collection gives them (test/fixture.json), plus a test collection with
-- validations
INSERT INTO webflow.collection_fields (collection_id, field_id, slug, display_name, type, is_required, validations)
SELECT c, f, s, d, t, r, v::jsonb FROM (VALUES
    ('580e63fc8c9a982ac9b8b746', '6a0000000000000000000201', 'name', 'Name', 'PlainText', true, NULL),
    ('580e63fc8c9a982ac9b8b746', '6a0000000000000000000202', 'slug', 'Slug', 'PlainText', true, NULL),
    ('580e63fc8c9a982ac9b8b746', '6a0000000000000000000203', 'plain-text', 'Plain Text', 'PlainText', false, NULL),
    ('580e63fc8c9a982ac9b8b746', '6a0000000000000000000204', 'rich-text', 'Rich Text', 'RichText', false, NULL),
    ('580e63fc8c9a982ac9b8b746', '6a0000000000000000000205', 'main-image', 'Main Image', 'Image', false, NULL),
    ('580e63fc8c9a982ac9b8b746', '6a0000000000000000000206', 'image-gallery', 'Image Gallery', 'MultiImage', false, NULL),
    ('580e63fc8c9a982ac9b8b746', '6a0000000000000000000207', 'intro-video', 'Intro Video', 'VideoLink', false, NULL),
    ('580e63fc8c9a982ac9b8b746', '6a0000000000000000000208', 'official-site', 'Official Site', 'Link', false, NULL),
    ('580e63fc8c9a982ac9b8b746', '6a0000000000000000000209', 'contact-email', 'Contact Email', 'Email', false, NULL),
    ('580e63fc8c9a982ac9b8b746', '6a0000000000000000000210', 'support-phone', 'Support Phone', 'Phone', false, NULL),
    ('580e63fc8c9a982ac9b8b746', '6a0000000000000000000211', 'answer-to-everything', 'Answer to Everything', 'Number', false,
     '{"format": "integer", "allowNegative": false, "allowZero": true, "minValue": 0, "maxValue": 1000000}'),
    ('580e63fc8c9a982ac9b8b746', '6a0000000000000000000212', 'price', 'Price', 'Number', false,
     '{"format": "decimal", "precision": 2, "allowNegative": false, "allowZero": true}'),
    ('580e63fc8c9a982ac9b8b746', '6a0000000000000000000213', 'release-date', 'Release Date', 'DateTime', false, NULL),
    ('580e63fc8c9a982ac9b8b746', '6a0000000000000000000214', 'is-featured', 'Is Featured', 'Switch', false, NULL),
    ('580e63fc8c9a982ac9b8b746', '6a0000000000000000000215', 'brand-color', 'Brand Color', 'Color', false, NULL),
    ('580e63fc8c9a982ac9b8b746', '6a0000000000000000000216', 'category', 'Category', 'Option', false,
     '{"options": [{"name": "Fiction", "id": "62b720ef280c7a7a3be8cabf"}, {"name": "Non-fiction", "id": "62b720ef280c7a7a3be8cac0"}, {"name": "Reference", "id": "62b720ef280c7a7a3be8cac1"}]}'),
    ('580e63fc8c9a982ac9b8b746', '6a0000000000000000000217', 'author', 'Author', 'Reference', false,
     '{"collectionId": "580e63fc8c9a982ac9b8b747"}'),
    ('580e63fc8c9a982ac9b8b746', '6a0000000000000000000218', 'tags', 'Tags', 'MultiReference', false,
     '{"collectionId": "580e63fc8c9a982ac9b8b748"}'),
    ('580e63fc8c9a982ac9b8b746', '6a0000000000000000000219', 'downloadable-asset', 'Downloadable Asset', 'File', false, NULL),
    ('580e63fc8c9a982ac9b8b747', '6a0000000000000000000301', 'name', 'Name', 'PlainText', true, NULL),
    ('580e63fc8c9a982ac9b8b747', '6a0000000000000000000302', 'slug', 'Slug', 'PlainText', true, NULL),
    ('580e63fc8c9a982ac9b8b747', '6a0000000000000000000303', 'bio', 'Bio', 'RichText', false, NULL),
    ('580e63fc8c9a982ac9b8b747', '6a0000000000000000000304', 'website', 'Website', 'Link', false, NULL),
    ('c0c0c0c0c0c0c0c0c0c0c0c0', NULL, 'name', 'Name', 'PlainText', true, '{"maxLength": 10}'),
    ('c0c0c0c0c0c0c0c0c0c0c0c0', NULL, 'slug', 'Slug', 'PlainText', true, NULL),
    ('c0c0c0c0c0c0c0c0c0c0c0c0', NULL, 'code', 'Code', 'PlainText', true, '{"singleLine": true}'),
    ('c0c0c0c0c0c0c0c0c0c0c0c0', NULL, 'qty', 'Quantity', 'Number', false, '{"allowZero": false, "minValue": -5, "maxValue": 10.5}'),
    ('c0c0c0c0c0c0c0c0c0c0c0c0', NULL, 'ref', 'Ref', 'Reference', false, '{}'),
    ('c0c0c0c0c0c0c0c0c0c0c0c0', NULL, 'widget', 'Widget', 'ExtFileRef', false, NULL),
    ('c0c0c0c0c0c0c0c0c0c0c0c0', NULL, 'created-by', 'Created By', 'User', false, NULL)
) AS v(c, f, s, d, t, r, v);
UPDATE webflow.collection_fields SET is_editable = false WHERE slug = 'created-by';

-- the item map: source row keys of published authors and tags
INSERT INTO webflow.items (collection_id, source_key, item_id, slug) VALUES
    ('580e63fc8c9a982ac9b8b747', 'adams', '62b720ef280c7a7a3be8cab0', 'douglas-adams'),
    ('580e63fc8c9a982ac9b8b747', '7', '62b720ef280c7a7a3be8cab5', 'eoin-colfer'),
    ('580e63fc8c9a982ac9b8b747', '[7, "en"]', '62b720ef280c7a7a3be8cab5', 'eoin-colfer'),
    ('580e63fc8c9a982ac9b8b748', '1', '62b720ef280c7a7a3be8cab1', 'science-fiction'),
    ('580e63fc8c9a982ac9b8b748', '2', '62b720ef280c7a7a3be8cab2', 'comedy');

-- The example item of Webflow's Create Live Items page, from a table row:
-- the option by name, the author and the tags by source row key.
CREATE TEMP TABLE books (
    id int PRIMARY KEY, name text, slug text, plain_text text, rich_text text,
    main_image jsonb, image_gallery jsonb, intro_video text, official_site text,
    contact_email text, support_phone text, answer_to_everything int,
    release_date date, is_featured boolean, brand_color text, category text,
    author_key text, tag_ids int[], downloadable_asset jsonb);
INSERT INTO books VALUES (1,
    'The Hitchhiker''s Guide to the Galaxy', 'hitchhikers-guide-to-the-galaxy', 'Don''t Panic.',
    '<h3>A Guide to Interstellar Travel</h3><p>A towel is about the most massively useful thing an interstellar hitchhiker can have. <strong>Don''t forget yours!</strong></p>',
    '{"fileId": "62b720ef280c7a7a3be8cabe", "url": "/files/62b720ef280c7a7a3be8cabe_image.png"}',
    '[{"fileId": "62b720ef280c7a7a3be8cabd", "url": "/files/62b720ef280c7a7a3be8cabd_image.png"},
      {"fileId": "62b720ef280c7a7a3be8cabe", "url": "/files/62b720ef280c7a7a3be8cabe_image.png"}]',
    'https://www.youtube.com/watch?v=aJ83KAggd-4',
    'https://hitchhikers.fandom.com/wiki/The_Hitchhiker%27s_Guide_to_the_Galaxy',
    'zaphod.beeblebrox@heartofgold.gov', '424-242-4242', 42, '1979-10-12', true, '#000000',
    'Fiction', 'adams', '{1,2}',
    '{"fileId": "62b720ef280c7a7a3be8cab3", "url": "/files/62b720ef280c7a7a3be8cab3_document.pdf"}');
CREATE TEMP TABLE example AS
SELECT webflow.item_payload(to_jsonb(b),
         '{"exclude": ["id"], "fields": {"author_key": "author", "tag_ids": "tags"},
           "collection": "580e63fc8c9a982ac9b8b746",
           "locale": "653ad57de882f528b32e810e"}') AS item
FROM books b;
SELECT jsonb_pretty(item) FROM example;
-- exactly the example's fieldData, cmsLocaleId and flags
SELECT item = '{
  "fieldData": {
    "name": "The Hitchhiker''s Guide to the Galaxy",
    "slug": "hitchhikers-guide-to-the-galaxy",
    "plain-text": "Don''t Panic.",
    "rich-text": "<h3>A Guide to Interstellar Travel</h3><p>A towel is about the most massively useful thing an interstellar hitchhiker can have. <strong>Don''t forget yours!</strong></p>",
    "main-image": {"fileId": "62b720ef280c7a7a3be8cabe", "url": "/files/62b720ef280c7a7a3be8cabe_image.png"},
    "image-gallery": [
      {"fileId": "62b720ef280c7a7a3be8cabd", "url": "/files/62b720ef280c7a7a3be8cabd_image.png"},
      {"fileId": "62b720ef280c7a7a3be8cabe", "url": "/files/62b720ef280c7a7a3be8cabe_image.png"}
    ],
    "intro-video": "https://www.youtube.com/watch?v=aJ83KAggd-4",
    "official-site": "https://hitchhikers.fandom.com/wiki/The_Hitchhiker%27s_Guide_to_the_Galaxy",
    "contact-email": "zaphod.beeblebrox@heartofgold.gov",
    "support-phone": "424-242-4242",
    "answer-to-everything": 42,
    "release-date": "1979-10-12T00:00:00.000Z",
    "is-featured": true,
    "brand-color": "#000000",
    "category": "62b720ef280c7a7a3be8cabf",
    "author": "62b720ef280c7a7a3be8cab0",
    "tags": ["62b720ef280c7a7a3be8cab1", "62b720ef280c7a7a3be8cab2"],
    "downloadable-asset": {"fileId": "62b720ef280c7a7a3be8cab3", "url": "/files/62b720ef280c7a7a3be8cab3_document.pdf"}
  },
  "cmsLocaleId": "653ad57de882f528b32e810e",
  "isArchived": false,
  "isDraft": false
}'::jsonb AS is_the_example
FROM example;

-- and the local Webflow accepts it (as a new item: the example exists there)
SELECT wftest.reset();
SELECT i->'fieldData'->>'slug' AS created_slug, i->'fieldData'->'author' AS author, i->'fieldData'->'tags' AS tags
FROM example,
     webflow.create_live_items('580e63fc8c9a982ac9b8b746',
         jsonb_set(item, '{fieldData,slug}', '"hitchhikers-guide-2"')) AS i;
SELECT wftest.reset();

-- every field type: what a value becomes
CREATE FUNCTION pg_temp.sent(slug text, v jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT webflow.item_payload(jsonb_build_object('name', 'x', 'slug', 'x', slug, v),
                                '{"collection": "580e63fc8c9a982ac9b8b746"}') -> 'fieldData' -> slug
$$;
SELECT slug, v AS value, pg_temp.sent(slug, v) AS sent FROM (VALUES
    ('plain-text', '"text"'::jsonb), ('plain-text', '42.50'), ('plain-text', 'true'), ('plain-text', '""'),
    ('plain-text', '"2022-11-18T00:00:00"'),
    ('rich-text', '"<p>x</p>"'), ('official-site', '"https://example.com"'),
    ('contact-email', '"a@b.c"'), ('support-phone', '4242424242'), ('intro-video', '"https://vimeo.com/1"'),
    ('price', '12.5'), ('price', '"12.50"'), ('price', '" 7 "'), ('price', '"1e3"'), ('price', '"-0"'),
    ('answer-to-everything', '42'), ('answer-to-everything', '"42.0"'),
    ('is-featured', 'true'), ('is-featured', '"yes"'), ('is-featured', '"F"'), ('is-featured', '0'), ('is-featured', '" on "'),
    ('release-date', to_jsonb(date '1979-10-12')),
    ('release-date', to_jsonb(timestamptz '1979-10-12 12:00:00+02')),
    ('release-date', to_jsonb(timestamp '1979-10-12 12:00:00.5')),
    ('release-date', '"1979-10-12 12:00"'), ('release-date', '"1979-10-12T12:00:00Z"'),
    ('release-date', '"1979-10-12t12:00:00.123456789+0530"'), ('release-date', '"1979-10-12 12:00:00-08"'),
    ('brand-color', '"#abc"'), ('brand-color', '"#AABBCCDD"'), ('brand-color', '"rgba(0, 0, 0, 0.5)"'),
    ('brand-color', '"hsl(120deg 100% 50%)"'), ('brand-color', '"RebeccaPurple"'), ('brand-color', '"transparent"'),
    ('category', '"Fiction"'), ('category', '"62b720ef280c7a7a3be8cac0"'), ('category', '"reference"'), ('category', '""'),
    ('main-image', '"https://example.com/a.png"'), ('main-image', '{"url": "https://example.com/a.png", "alt": "A"}'),
    ('main-image', '{"fileId": "62b720ef280c7a7a3be8cabe"}'),
    ('image-gallery', '["https://example.com/a.png", {"url": "https://example.com/b.png", "alt": "B"}]'),
    ('image-gallery', '"https://example.com/only.png"'), ('image-gallery', '[]'),
    ('downloadable-asset', '"https://example.com/a.pdf"'),
    ('author', '"62b720ef280c7a7a3be8cab0"'), ('author', '"adams"'), ('author', '7'), ('author', '[7, "en"]'),
    ('tags', '[1, 2]'), ('tags', '["62b720ef280c7a7a3be8cab1", 2]'), ('tags', '1'), ('tags', '[]'),
    ('author', 'null'), ('tags', 'null'), ('main-image', 'null'), ('price', 'null')) AS v(slug, v);

-- a field type we do not know passes values through
SELECT webflow.item_payload('{"name": "x", "code": "A", "widget": {"any": "thing"}}',
                            '{"collection": "c0c0c0c0c0c0c0c0c0c0c0c0"}') -> 'fieldData';

-- errors: values that do not fit their field
SELECT pg_temp.sent('plain-text', '{"a": 1}');
SELECT pg_temp.sent('price', '"12,50"');
SELECT pg_temp.sent('price', '"NaN"');
SELECT pg_temp.sent('price', '-1');
SELECT pg_temp.sent('price', 'true');
SELECT pg_temp.sent('answer-to-everything', '4.2');
SELECT pg_temp.sent('answer-to-everything', '1000001');
SELECT pg_temp.sent('is-featured', '"maybe"');
SELECT pg_temp.sent('is-featured', '2');
SELECT pg_temp.sent('release-date', '"yesterday"');
SELECT pg_temp.sent('release-date', '"2022-02-30"');
SELECT pg_temp.sent('release-date', '20221118');
SELECT pg_temp.sent('brand-color', '"#abcde"');
SELECT pg_temp.sent('brand-color', '"blurple"');
SELECT pg_temp.sent('brand-color', '"rgb(1;2;3)"');
SELECT pg_temp.sent('category', '"Poetry"');
SELECT pg_temp.sent('main-image', '{"alt": "no url"}');
SELECT pg_temp.sent('main-image', '42');
SELECT pg_temp.sent('image-gallery', '["https://example.com/a.png", 3]');
SELECT pg_temp.sent('author', '"nobody"');
SELECT pg_temp.sent('author', '{"id": 1}');
SELECT pg_temp.sent('tags', '[1, 3]');
SELECT webflow.item_payload('{"name": "Far too long a name", "code": "A"}', '{"collection": "c0c0c0c0c0c0c0c0c0c0c0c0"}');
SELECT webflow.item_payload('{"name": "x", "code": "two\nlines"}', '{"collection": "c0c0c0c0c0c0c0c0c0c0c0c0"}');
SELECT webflow.item_payload('{"name": "x", "code": null}', '{"collection": "c0c0c0c0c0c0c0c0c0c0c0c0"}');
SELECT webflow.item_payload('{"name": "x", "code": ""}', '{"collection": "c0c0c0c0c0c0c0c0c0c0c0c0"}');
SELECT webflow.item_payload('{"name": "x", "code": "A", "qty": 0}', '{"collection": "c0c0c0c0c0c0c0c0c0c0c0c0"}');
SELECT webflow.item_payload('{"name": "x", "code": "A", "qty": -6}', '{"collection": "c0c0c0c0c0c0c0c0c0c0c0c0"}');
SELECT webflow.item_payload('{"name": "x", "code": "A", "qty": 10.6}', '{"collection": "c0c0c0c0c0c0c0c0c0c0c0c0"}');
SELECT webflow.item_payload('{"name": "x", "code": "A", "ref": "k"}', '{"collection": "c0c0c0c0c0c0c0c0c0c0c0c0"}');

-- errors: columns that do not fit the collection
SELECT webflow.item_payload('{"id": 1, "name": "x", "code": "A", "colour": "red"}', '{"collection": "c0c0c0c0c0c0c0c0c0c0c0c0"}');
SELECT webflow.item_payload('{"name": "x"}', '{"collection": "c0c0c0c0c0c0c0c0c0c0c0c0"}');
SELECT webflow.item_payload('{"name": "x", "code": "A", "created_by": "me"}', '{"collection": "c0c0c0c0c0c0c0c0c0c0c0c0"}');
-- the same with the offending columns left out
SELECT webflow.item_payload('{"id": 1, "name": "x", "code": "A", "colour": "red", "created_by": "me"}',
                            '{"collection": "c0c0c0c0c0c0c0c0c0c0c0c0", "exclude": ["id", "colour"], "fields": {"created_by": null}}');

-- the cache follows changes to webflow.collection_fields in this session
SELECT pg_temp.sent('category', '"Fiction"');
UPDATE webflow.collection_fields
SET validations = '{"options": [{"name": "Fiction", "id": "aaaaaaaaaaaaaaaaaaaaaaaa"}]}'
WHERE collection_id = '580e63fc8c9a982ac9b8b746' AND slug = 'category';
SELECT pg_temp.sent('category', '"Fiction"');
BEGIN;
DELETE FROM webflow.collection_fields WHERE collection_id = '580e63fc8c9a982ac9b8b746' AND slug = 'category';
SELECT pg_temp.sent('category', '"Fiction"');
ROLLBACK;
SELECT pg_temp.sent('category', '"Fiction"');

-- a role without any right on the tables can still build items (the
-- schema is read as the extension owner); it cannot read them or refresh
-- them, and it resolves reference keys only once it may read webflow.items
CREATE ROLE payload_user;
SET ROLE payload_user;
SELECT webflow.item_payload('{"name": "x", "author": "62b720ef280c7a7a3be8cab0", "tags": ["62b720ef280c7a7a3be8cab2"]}',
                            '{"collection": "580e63fc8c9a982ac9b8b746"}') -> 'fieldData';
SELECT webflow.item_payload('{"name": "x", "author": "adams", "tags": [2]}',
                            '{"collection": "580e63fc8c9a982ac9b8b746"}') -> 'fieldData';
SELECT count(*) FROM webflow.collection_fields;
SELECT count(*) FROM webflow.items;
SELECT webflow.refresh_schema('580e63fc8c9a982ac9b8b748');
-- an uncached collection: this role may not fetch it
SELECT webflow.item_payload('{"name": "x"}', '{"collection": "580e63fc8c9a982ac9b8b748"}');
RESET ROLE;
GRANT USAGE ON SCHEMA webflow TO payload_user;
GRANT SELECT ON webflow.items TO payload_user;
SET ROLE payload_user;
SELECT webflow.item_payload('{"name": "x", "author": "adams", "tags": [2]}',
                            '{"collection": "580e63fc8c9a982ac9b8b746"}') -> 'fieldData';
RESET ROLE;
REVOKE SELECT ON webflow.items FROM payload_user;
REVOKE USAGE ON SCHEMA webflow FROM payload_user;
DROP ROLE payload_user;

-- nor may anyone fetch it in a read-only transaction or a parallel query
BEGIN READ ONLY;
SELECT webflow.item_payload('{"name": "x"}', '{"collection": "580e63fc8c9a982ac9b8b748"}');
ROLLBACK;
BEGIN;
SELECT set_config(CASE WHEN current_setting('server_version_num')::int >= 160000
                       THEN 'debug_parallel_query' ELSE 'force_parallel_mode' END, 'on', true) AS parallel;
SELECT webflow.item_payload('{"name": "x"}', '{"collection": "580e63fc8c9a982ac9b8b748"}');
ROLLBACK;

-- a superuser fetches it on first use, through webflow.refresh_schema
SELECT webflow.item_payload('{"name": "Sci-Fi", "description": "Towels."}', '{"collection": "580e63fc8c9a982ac9b8b748"}');
SELECT slug, type, is_required, is_editable FROM webflow.collection_fields
WHERE collection_id = '580e63fc8c9a982ac9b8b748' ORDER BY slug;

-- webflow.refresh_schema replaces a collection's rows with Webflow's
DELETE FROM webflow.collection_fields WHERE collection_id = '580e63fc8c9a982ac9b8b747' AND slug = 'bio';
UPDATE webflow.collection_fields SET type = 'Number' WHERE collection_id = '580e63fc8c9a982ac9b8b747' AND slug = 'website';
SELECT webflow.refresh_schema('580e63fc8c9a982ac9b8b747') AS fields;
SELECT field_id, slug, display_name, type, is_required, is_editable, validations
FROM webflow.collection_fields WHERE collection_id = '580e63fc8c9a982ac9b8b747' ORDER BY slug;
SELECT webflow.refresh_schema('580e63fc8c9a982ac9b8b746') AS fields;
SELECT count(*) AS option_fields FROM webflow.collection_fields
WHERE collection_id = '580e63fc8c9a982ac9b8b746' AND validations ? 'options';
SELECT wftest.error_of($$SELECT webflow.refresh_schema('ffffffffffffffffffffffff')$$);
SELECT wftest.error_of($$SELECT webflow.refresh_schema('Books')$$);
SELECT wftest.error_of($$SELECT webflow.refresh_schema(NULL)$$);

-- privileges and comments
SELECT p.oid::regprocedure AS function, has_function_privilege('public', p.oid, 'EXECUTE') AS public_may_execute,
       obj_description(p.oid, 'pg_proc') IS NOT NULL AS commented
FROM pg_proc p WHERE p.oid IN ('webflow.slugify(text)'::regprocedure, 'webflow.item_payload(jsonb, jsonb)'::regprocedure,
                               'webflow.refresh_schema(text)'::regprocedure, 'webflow._collection_fields_changed()'::regprocedure)
ORDER BY 1;
SELECT c.oid::regclass AS "table", has_table_privilege('public', c.oid, 'SELECT') AS public_may_select,
       obj_description(c.oid, 'pg_class') IS NOT NULL AS commented,
       c.oid IN (SELECT unnest(extconfig) FROM pg_extension WHERE extname = 'webflow') AS dumped
FROM pg_class c WHERE c.oid IN ('webflow.collection_fields'::regclass, 'webflow.items'::regclass) ORDER BY 1;

DELETE FROM webflow.items;
DELETE FROM webflow.collection_fields;
