-- settings: who may set and read webflow.* settings, and which API URLs are
-- accepted.
SELECT name, boot_val, unit, context FROM pg_settings
WHERE name LIKE 'webflow.%' AND name NOT IN ('webflow.api_url', 'webflow.token')
ORDER BY name;
SELECT name, context FROM pg_settings WHERE name = 'webflow.api_url';

-- https anywhere; http only for loopback addresses
SET webflow.api_url = 'https://api.webflow.com/v2';
SET webflow.api_url = 'https://api.webflow.com:443/v2/';
SET webflow.api_url = 'http://127.0.0.1:4010/v2';
SET webflow.api_url = 'http://127.1.2.3/v2';
SET webflow.api_url = 'http://localhost:8080';
SET webflow.api_url = 'http://[::1]:8080/v2';
SET webflow.api_url = 'http://api.webflow.com/v2';
SET webflow.api_url = 'http://10.0.0.1/v2';
SET webflow.api_url = 'http://127.0.0.1.evil.example/v2';
SET webflow.api_url = 'http://127.0.0.256/v2';
SET webflow.api_url = 'ftp://api.webflow.com/v2';
SET webflow.api_url = 'file:///etc/passwd';
SET webflow.api_url = 'https://user:secret@api.webflow.com/v2';
SET webflow.api_url = 'https://api.webflow.com/v2?x=1';
SET webflow.api_url = 'https://api.webflow.com:abc/v2';
SET webflow.api_url = '';
RESET webflow.api_url;

-- out-of-range numbers
SET webflow.timeout = 0;
SET webflow.timeout = -5;
SET webflow.connect_timeout = '1h';
SET webflow.timeout = '2s';
SHOW webflow.timeout;
RESET webflow.timeout;
RESET webflow.connect_timeout;

-- prefix reserved
SET webflow.no_such_setting = 'x';

-- a role without privileges
CREATE ROLE wf_plain LOGIN;
SET ROLE wf_plain;
-- cannot read the token by any means
SHOW webflow.token;
SELECT current_setting('webflow.token');
SELECT count(*) FROM pg_settings WHERE name = 'webflow.token';
SELECT count(*) FROM pg_show_all_settings() WHERE name = 'webflow.token';
-- cannot change where requests go, or with which token
SET webflow.api_url = 'https://attacker.example/v2';
SET webflow.token = 'mine';
SET webflow.ca_bundle = '/tmp/my-ca.pem';
-- may tune its own timeouts
SET webflow.timeout = '5s';
-- cannot call the API
SELECT webflow.list_sites();
SELECT webflow.request('GET', '/sites');
SELECT webflow.create_live_items('580e63fc8c9a982ac9b8b745', '[]');
RESET ROLE;

-- SHOW ALL does not list the token even for a superuser
SELECT count(*) FROM (SELECT * FROM pg_settings) s WHERE name = 'webflow.token';

-- a superuser grants the API to a role
GRANT EXECUTE ON FUNCTION webflow.list_sites() TO wf_plain;
SET ROLE wf_plain;
SELECT count(*) FROM webflow.list_sites();
SHOW webflow.token;
RESET ROLE;
REVOKE EXECUTE ON FUNCTION webflow.list_sites() FROM wf_plain;
DROP ROLE wf_plain;

-- every function of the extension has a comment
SELECT p.oid::regprocedure AS function_without_comment
FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'webflow'
WHERE obj_description(p.oid, 'pg_proc') IS NULL;

-- every function that calls the API is closed to PUBLIC
SELECT count(*) AS api_functions,
       count(*) FILTER (WHERE has_function_privilege('public', p.oid, 'EXECUTE')) AS open_to_public
FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'webflow'
WHERE obj_description(p.oid, 'pg_proc') ~ '^(Webflow |Send any request)';

-- the token stays out of catalogs everyone can read
SELECT wftest.error_of($$ALTER ROLE CURRENT_USER SET webflow.token = 'secret-in-catalog'$$);
SELECT wftest.error_of($$ALTER DATABASE postgres SET webflow.token = 'secret-in-catalog'$$);
SELECT wftest.error_of($$CREATE FUNCTION leak() RETURNS int LANGUAGE sql SET webflow.token = 'secret-in-catalog' AS 'SELECT 1'$$);
SELECT count(*) AS stored FROM pg_db_role_setting WHERE array_to_string(setconfig, ',') LIKE '%webflow.token=%';
-- members of pg_read_all_settings (pg_monitor) see it masked
CREATE ROLE wf_monitor IN ROLE pg_monitor;
SET ROLE wf_monitor;
SHOW webflow.token;
SELECT current_setting('webflow.token');
RESET ROLE;
DROP ROLE wf_monitor;
-- a superuser sees it
SELECT current_setting('webflow.token') = 'test-token' AS superuser_sees_it;
