-- api_token: token introspection and authentication errors.
SELECT wftest.reset();

SELECT u->>'email' AS email, u ? 'id' AS has_id
FROM webflow.get_authorization_user_info() u;

SELECT i->'authorization'->>'scope' AS scope,
       i->'authorization'->'authorizedTo'->'siteIds' AS sites
FROM webflow.get_authorization_info() i;

-- a token Webflow does not know: WF401 with a hint about webflow.token
SET webflow.token = 'not-a-real-token';
SELECT * FROM wftest.error_full('SELECT webflow.list_sites()');
-- a token lacking the scope: the hint names it
SET webflow.token = 'readonly-token';
SELECT * FROM wftest.error_full($$SELECT webflow.create_live_items('580e63fc8c9a982ac9b8b745', '{"fieldData": {"name": "A", "slug": "a"}}')$$);
-- no token at all: refused before any request
SET webflow.token = '';
SET webflow.token_file = '';
SELECT * FROM wftest.error_full('SELECT webflow.list_sites()');
-- a token that cannot go into a header
SET webflow.token = E'abc\ndef';
SELECT * FROM wftest.error_full('SELECT webflow.list_sites()');
RESET webflow.token;
RESET webflow.token_file;

-- the token can come from a file instead (webflow.token_file), keeping it
-- out of every setting
CREATE FUNCTION pg_temp.write_token_file(content text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('COPY (SELECT %L) TO %L', content,
                   current_setting('data_directory') || '/webflow_regress_token');
    PERFORM set_config('webflow.token_file',
                       current_setting('data_directory') || '/webflow_regress_token', false);
END $$;
SET webflow.token = '';
SELECT pg_temp.write_token_file('test-token');
SELECT count(*) AS sites FROM webflow.list_sites();
-- the file is read again when it changes
SELECT pg_temp.write_token_file('   ');
SELECT regexp_replace(message, '".*"', '"..."') AS message FROM wftest.error_full('SELECT webflow.list_sites()');
SET webflow.token_file = 'no_such_token_file';
SELECT wftest.error_of('SELECT webflow.list_sites()') LIKE '22023: could not stat webflow.token_file "no_such_token_file": No such file%' AS missing_file_refused;
RESET webflow.token_file;
RESET webflow.token;

-- the fake saw no request for the refused calls
SELECT method, path, status FROM wftest.requests();
