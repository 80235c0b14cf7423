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
SELECT * FROM wftest.error_full('SELECT webflow.list_sites()');
-- a token that cannot go into a header
SET webflow.token = E'abc\ndef';
SELECT * FROM wftest.error_full('SELECT webflow.list_sites()');
RESET webflow.token;

-- the fake saw no request for the two refused calls
SELECT method, path, status FROM wftest.requests();
