-- payload_slugify: webflow.slugify over tricky names, in UTF-8 and in
-- other server encodings.

CREATE TEMP TABLE names (n int, name text);
INSERT INTO names VALUES
    (1, 'The Hitchhiker''s Guide to the Galaxy'),
    (2, 'Hitchhiker’s Guide'),                  -- right single quotation mark
    (3, 'Hitchhikerʼs Guide'),                  -- modifier letter apostrophe
    (4, 'Crème brûlée à la carte'),
    (5, 'Straße, Æsir, Œuvre, Ørsted, Łódź'),
    (6, 'Þórr and Đorđe in Ærøskøbing'),
    (7, 'Ångström Çelik Ñandú Ýmir ÿ'),
    (8, 'Tiếng Việt có dấu'),                   -- Latin Extended Additional
    (9, 'ǅemal, ĳsselmeer, ﬁsh, ﬂour'),         -- digraphs and ligatures
    (10, 'Ｆｕｌｌｗｉｄｔｈ １２３'),
    (11, 'e' || U&'\0301' || 'te decomposed'),  -- combining acute accent
    (12, '日本語のタイトル'),                      -- CJK only: no slug
    (13, 'Tokyo 東京 2024'),
    (14, 'Emoji 😀🚀 party 🎉'),
    (15, 'Ελληνικά and Русский text'),         -- non-Latin letters separate
    (16, '!"#$%&()*+,./:;<=>?@[\]^_`{|}~ punctuation !"#$%&()*+,./:;<=>?@[\]^_`{|}~'),
    (17, '  --- leading and trailing junk ---  '),
    (18, 'multiple   spaces -- and -- hyphens'),
    (19, 'UPPER lower MiXeD 123'),
    (20, 'tab' || chr(9) || 'newline' || chr(10) || 'end'),
    (21, ''),
    (22, '---'),
    (23, 'a'),
    (24, 'rock ‘n’ roll'),
    (25, 'don''t-stop'),
    (26, repeat('Long name ', 30)),
    (27, 'Ĳ ǉ ǌ ǳ ȸ ȹ ẞ'),
    (28, 'ı dotless, ſ long s, ŋ eng, ð eth, ħ bar');

SELECT n, webflow.slugify(name) FROM names WHERE n <> 26 ORDER BY n;

-- a 300-character name gives a 299-character slug (no truncation)
SELECT length(name) AS name_length, length(webflow.slugify(name)) AS slug_length,
       webflow.slugify(name) ~ '^[a-z0-9]+(-[a-z0-9]+)*$' AS well_formed
FROM names WHERE n = 26;

-- every slug is well formed or empty
SELECT count(*) AS malformed FROM names
WHERE webflow.slugify(name) !~ '^([a-z0-9]+(-[a-z0-9]+)*)?$';

-- STRICT, IMMUTABLE, PARALLEL SAFE
SELECT webflow.slugify(NULL) IS NULL AS null_in_null_out;
SELECT provolatile, proisstrict, proparallel FROM pg_proc
WHERE oid = 'webflow.slugify(text)'::regprocedure;

-- other server encodings: LATIN1 converts to UTF-8 first; in SQL_ASCII,
-- bytes that are UTF-8 are read as UTF-8
\set regress_db :DBNAME
SET client_min_messages = warning;
DROP DATABASE IF EXISTS payload_slugify_latin1;
DROP DATABASE IF EXISTS payload_slugify_sql_ascii;
CREATE DATABASE payload_slugify_latin1 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
CREATE DATABASE payload_slugify_sql_ascii ENCODING 'SQL_ASCII' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;
RESET client_min_messages;
\c payload_slugify_latin1
SET client_encoding = 'UTF8';
CREATE EXTENSION webflow;
SELECT current_setting('server_encoding') AS encoding,
       webflow.slugify('Crème brûlée, Straße & Ærø'), webflow.slugify('L''été d''Øster');
\c payload_slugify_sql_ascii
CREATE EXTENSION webflow;
SELECT current_setting('server_encoding') AS encoding,
       webflow.slugify('Crème brûlée, Straße & Ærø'),
       webflow.slugify(convert_from('\x4361666520e920ff'::bytea, 'SQL_ASCII'));  -- invalid UTF-8 bytes separate
\c :regress_db
DROP DATABASE payload_slugify_latin1;
DROP DATABASE payload_slugify_sql_ascii;
