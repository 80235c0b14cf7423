-- publish_recovery: a create whose answer was lost is found again, never
-- made twice, even when the row changed since (new slug, a referenced row
-- gone) or when the update of the item found fails.
SELECT wftest.reset();
\set books '''580e63fc8c9a982ac9b8b746'''
\set authors '''580e63fc8c9a982ac9b8b747'''

CREATE TABLE r_authors (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE r_books (id int PRIMARY KEY, name text NOT NULL, slug text,
                      author_id int, blurb text);
SELECT webflow.bind('r_authors', :authors);
SELECT webflow.bind('r_books', :books,
                    '{"fields": {"author_id": "author", "blurb": "rich-text"}}');

-- due(): rows waiting out their backoff become due now (instead of a sleep)
CREATE FUNCTION wftest.due() RETURNS void LANGUAGE sql AS $$
    UPDATE webflow.outbox SET next_attempt_at = now() WHERE state = 'pending';
$$;
-- later(): rows waiting out their backoff wait an hour
CREATE FUNCTION wftest.later() RETURNS void LANGUAGE sql AS $$
    UPDATE webflow.outbox SET next_attempt_at = now() + interval '1 hour'
    WHERE state = 'pending';
$$;
-- books(): the fake's items of the Books collection made by this test
CREATE FUNCTION wftest.books() RETURNS TABLE (name text, slug text, author text)
LANGUAGE sql AS $$
    SELECT i->'fieldData'->>'name', i->'fieldData'->>'slug', i->'fieldData'->>'author'
    FROM webflow.list_items('580e63fc8c9a982ac9b8b746') i
    WHERE i->'fieldData'->>'name' LIKE 'R %' ORDER BY 1;
$$;

INSERT INTO r_authors VALUES (1, 'R Ada Author');
SELECT webflow.drain();

-- 1. The create of a book referencing author 1 reaches Webflow, but its
-- answer is garbled: the row is "maybe sent".
SELECT wftest.fault('{"match": {"method": "POST", "path": "/collections/580e63fc8c9a982ac9b8b746/items/live$"}, "malformed": true, "count": 1}');
INSERT INTO r_books VALUES (10, 'R Lost Answer', NULL, 1, 'First blurb');
SELECT webflow.drain();
SELECT op, state, maybe_sent, attempts FROM webflow.outbox;
SELECT name, slug FROM wftest.books();
-- then author 1 goes (and its item with it) while the book waits ...
SELECT wftest.later();
DELETE FROM r_authors WHERE id = 1;
SELECT webflow.drain();
SELECT count(*) AS authors_mapped FROM webflow.items WHERE collection_id = :authors;
-- ... and the book is renamed and loses its author.  The state that was
-- sent cannot be made into an item any more (its author is gone), but its
-- slug is still known: the item is found under it and updated, not made
-- again under the new slug.
UPDATE r_books SET name = 'R Found Again', author_id = NULL WHERE id = 10;
SELECT wftest.due();
SELECT wftest.clear_log();
SELECT webflow.drain();
SELECT method, path, status FROM wftest.requests() WHERE method <> 'GET';
SELECT name, slug, author FROM wftest.books();
SELECT count(*) AS queued FROM webflow.outbox;
SELECT i.slug FROM webflow.items i WHERE source_key = '10';

-- 2. The same, and the update of the item found fails (another item has
-- the slug the row wants): the item stays mapped to the row, the row is
-- tried again, and once the slug is free the item is updated, not made
-- again.
INSERT INTO r_books VALUES (21, 'R Taken Slug', NULL, NULL, NULL);
SELECT webflow.drain();
SELECT wftest.fault('{"match": {"method": "POST", "path": "/collections/580e63fc8c9a982ac9b8b746/items/live$"}, "malformed": true, "count": 1}');
INSERT INTO r_books VALUES (20, 'R Second Lost', NULL, NULL, NULL);
SELECT webflow.drain();
UPDATE r_books SET slug = 'r-taken-slug' WHERE id = 20;
SELECT wftest.due();
SELECT wftest.clear_log();
SELECT webflow.drain();
SELECT method, path, status FROM wftest.requests() WHERE method <> 'GET';
SELECT op, state, attempts, last_status, last_error LIKE '%Unique value%' AS slug_taken
FROM webflow.outbox ORDER BY id;
SELECT i.source_key, i.slug FROM webflow.items i
WHERE collection_id = :books ORDER BY 1;
-- the other row lets go of the slug; the row is sent again as an update
UPDATE r_books SET slug = 'r-other-slug' WHERE id = 21;
SELECT wftest.later();
UPDATE webflow.outbox SET next_attempt_at = now()
WHERE row_key = '21';
SELECT webflow.drain();
SELECT wftest.due();
SELECT wftest.clear_log();
SELECT webflow.drain();
SELECT method, path, status FROM wftest.requests() WHERE method <> 'GET';
SELECT name, slug FROM wftest.books();
SELECT count(*) AS queued FROM webflow.outbox;

-- 3. A row deleted after a create with a lost answer: the item is found
-- under the slug it was sent with and deleted, although the state that
-- was sent cannot be made into an item any more.
INSERT INTO r_authors VALUES (2, 'R Bea Author');
SELECT webflow.drain();
SELECT wftest.fault('{"match": {"method": "POST", "path": "/collections/580e63fc8c9a982ac9b8b746/items/live$"}, "malformed": true, "count": 1}');
INSERT INTO r_books VALUES (30, 'R Short Lived', NULL, 2, NULL);
SELECT webflow.drain();
SELECT wftest.later();
DELETE FROM r_authors WHERE id = 2;
SELECT webflow.drain();
DELETE FROM r_books WHERE id = 30;
SELECT wftest.due();
SELECT wftest.clear_log();
SELECT webflow.drain();
SELECT method, path, status FROM wftest.requests() WHERE method <> 'GET';
SELECT name, slug FROM wftest.books();
SELECT count(*) AS queued FROM webflow.outbox;

SELECT webflow.unbind('r_books');
SELECT webflow.unbind('r_authors');
DROP TABLE r_books, r_authors;
DROP FUNCTION wftest.due(), wftest.later(), wftest.books();
