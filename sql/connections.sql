-- connections: named Webflow connections, as foreign servers of the webflow
-- wrapper with a token per user mapping, chosen with webflow.connection.
SELECT fdwname, fdwvalidator::regproc, fdwhandler, fdwoptions
FROM pg_foreign_data_wrapper WHERE fdwname = 'webflow';

-- the validator refuses unknown options and bad values
CREATE SERVER wf_bad FOREIGN DATA WRAPPER webflow OPTIONS (host 'api.webflow.com');
CREATE SERVER wf_bad FOREIGN DATA WRAPPER webflow OPTIONS (api_url 'http://api.example.com/v2');
CREATE SERVER wf_bad FOREIGN DATA WRAPPER webflow OPTIONS (api_url 'https://user:pw@api.webflow.com/v2');
CREATE SERVER wf_bad FOREIGN DATA WRAPPER webflow OPTIONS (api_url 'https://api.webflow.com/v2?x=1');
ALTER FOREIGN DATA WRAPPER webflow OPTIONS (api_url 'https://api.webflow.com/v2');
CREATE SERVER wf_bad FOREIGN DATA WRAPPER webflow OPTIONS (rate_limit '0');
CREATE SERVER wf_bad FOREIGN DATA WRAPPER webflow OPTIONS (rate_limit '60 per minute');
CREATE SERVER wf_bad FOREIGN DATA WRAPPER webflow OPTIONS (rate_limit '100001');

-- a connection to the local fake (its URL differs per run: not shown)
DO $$
BEGIN
    EXECUTE format('CREATE SERVER careers FOREIGN DATA WRAPPER webflow OPTIONS (api_url %L)',
                   current_setting('webflow_test.fake_url'));
END
$$;
CREATE FOREIGN TABLE careers_items (id text) SERVER careers;

-- user mappings need one usable token (the messages never show it)
CREATE USER MAPPING FOR CURRENT_USER SERVER careers;
CREATE USER MAPPING FOR CURRENT_USER SERVER careers OPTIONS (token 'two words');
CREATE USER MAPPING FOR CURRENT_USER SERVER careers OPTIONS (token 'readonly-token', token_file '/etc/webflow/token');
CREATE USER MAPPING FOR CURRENT_USER SERVER careers OPTIONS (token_file 'webflow-token');
CREATE USER MAPPING FOR CURRENT_USER SERVER careers OPTIONS (password 'readonly-token');
CREATE USER MAPPING FOR CURRENT_USER SERVER careers OPTIONS (token 'readonly-token');

-- the session's calls use the connection it names: another token
SELECT webflow.get_authorization_info()->'authorization'->>'scope' AS default_scopes;
SET webflow.connection = 'careers';
SELECT webflow.get_authorization_info()->'authorization'->>'scope' AS careers_scopes;
SELECT webflow.get_authorization_user_info();
SELECT count(*) AS sites FROM webflow.list_sites();
RESET webflow.connection;
SELECT webflow.get_authorization_info()->'authorization'->>'scope' AS default_again;
SET webflow.connection = 'nosuch';
SELECT webflow.list_sites();
CREATE FOREIGN DATA WRAPPER wf_other;
CREATE SERVER not_webflow FOREIGN DATA WRAPPER wf_other;
SET webflow.connection = 'not_webflow';
SELECT webflow.list_sites();
DROP SERVER not_webflow;
DROP FOREIGN DATA WRAPPER wf_other;
SET webflow.connection = 'x01234567890123456789012345678901234567890123456789012345678901234';
RESET webflow.connection;

-- a role needs USAGE on the server and a user mapping (its own or PUBLIC's)
CREATE ROLE wf_conn_user;
GRANT EXECUTE ON FUNCTION webflow.get_authorization_user_info() TO wf_conn_user;
SET ROLE wf_conn_user;
SET webflow.connection = 'careers';
SELECT webflow.get_authorization_user_info();
RESET ROLE;
GRANT USAGE ON FOREIGN SERVER careers TO wf_conn_user;
SET ROLE wf_conn_user;
SELECT webflow.get_authorization_user_info();
-- another role's token is not readable
SELECT usename = session_user AS superusers_mapping, umoptions FROM pg_user_mappings WHERE srvname = 'careers';
RESET ROLE;
CREATE USER MAPPING FOR PUBLIC SERVER careers OPTIONS (token 'test-token');
SET ROLE wf_conn_user;
SELECT webflow.get_authorization_user_info()->>'firstName' AS through_public;
RESET ROLE;
RESET webflow.connection;

-- only a superuser may name a token_file (the server reads the file)
CREATE ROLE wf_conn_owner;
GRANT USAGE ON FOREIGN DATA WRAPPER webflow TO wf_conn_owner;
SET ROLE wf_conn_owner;
CREATE SERVER wf_mine FOREIGN DATA WRAPPER webflow;
CREATE USER MAPPING FOR wf_conn_owner SERVER wf_mine OPTIONS (token_file '/etc/passwd');
CREATE USER MAPPING FOR wf_conn_owner SERVER wf_mine OPTIONS (token 'my-own-token');
RESET ROLE;

-- the extension's own work (bind, sync, verify) uses the default
-- connection, whatever the session's webflow.connection names
CREATE TABLE conn_jobs (id int PRIMARY KEY, name text NOT NULL);
SET webflow.connection = 'nosuch';
SELECT webflow.bind('conn_jobs', '580e63fc8c9a982ac9b8b745', '{"live": false}');
SELECT count(*) AS bindings FROM webflow.bindings WHERE source = 'conn_jobs'::regclass;
SELECT webflow.unbind('conn_jobs');
RESET webflow.connection;
DROP TABLE conn_jobs;

-- a binding publishes over the connection bind() names, with the token
-- of the mapping of the role that bound the table: here a site token of
-- the fake's second site (its Positions collection), which the default
-- token may not reach
DO $$
BEGIN
    EXECUTE format('CREATE SERVER magrathea FOREIGN DATA WRAPPER webflow OPTIONS (api_url %L, rate_limit %L)',
                   current_setting('webflow_test.fake_url'), '120');
END
$$;
CREATE USER MAPPING FOR CURRENT_USER SERVER magrathea OPTIONS (token 'careers-token');
CREATE TABLE positions (id int PRIMARY KEY, name text NOT NULL, department text);
INSERT INTO positions VALUES (1, 'Deep Thought Operator', 'Compute');
SELECT webflow.bind('positions', '580e63fc8c9a982ac9b8b749', '{"connection": "magrathea", "live": false}');
SELECT connection, bound_by = current_user::regrole AS bound_by_me, options
FROM webflow.bindings WHERE source = 'positions'::regclass;
SELECT webflow.sync('positions');
SELECT webflow.drain();
SET webflow.connection = 'magrathea';
SELECT i->'fieldData'->>'name' AS name, i->'fieldData'->>'department' AS department
FROM webflow.list_items('580e63fc8c9a982ac9b8b749') i;
RESET webflow.connection;
SELECT difference, row_key FROM webflow.verify('positions');
SELECT connection, rate_limit, requests > 0 AS used, paused_because
FROM webflow.connections() WHERE connection = 'magrathea';
SELECT source, connection, pending, failed, rate_limit, paused_because
FROM webflow.status WHERE source = 'positions'::regclass;
-- the default token cannot reach that site: Webflow answers 403
SELECT wftest.error_of($$SELECT count(*) FROM webflow.list_items('580e63fc8c9a982ac9b8b749')$$);
-- bind() refuses a connection the caller may not use, before anything changes
CREATE TABLE conn_theirs (id int PRIMARY KEY, name text NOT NULL);
ALTER TABLE conn_theirs OWNER TO wf_conn_user;
GRANT EXECUTE ON FUNCTION webflow.bind(regclass, text, jsonb) TO wf_conn_user;
SET ROLE wf_conn_user;
SELECT wftest.error_of($$SELECT webflow.bind('conn_theirs', '580e63fc8c9a982ac9b8b749', '{"connection": "magrathea"}')$$);
RESET ROLE;
GRANT USAGE ON FOREIGN SERVER magrathea TO wf_conn_user;
SET ROLE wf_conn_user;
SELECT wftest.error_of($$SELECT webflow.bind('conn_theirs', '580e63fc8c9a982ac9b8b749', '{"connection": "magrathea"}')$$);
SELECT wftest.error_of($$SELECT webflow.bind('conn_theirs', '580e63fc8c9a982ac9b8b749', '{"connection": "nosuch"}')$$);
SELECT wftest.error_of($$SELECT webflow.bind('conn_theirs', '580e63fc8c9a982ac9b8b749', '{"connection": 7}')$$);
RESET ROLE;
SELECT count(*) AS their_bindings FROM webflow.bindings WHERE source = 'conn_theirs'::regclass;
DELETE FROM positions;
SELECT webflow.unbind('positions');
DROP TABLE positions, conn_theirs;
REVOKE EXECUTE ON FUNCTION webflow.bind(regclass, text, jsonb) FROM wf_conn_user;

SET client_min_messages = warning;
DROP SERVER magrathea CASCADE;
DROP SERVER wf_mine CASCADE;
REVOKE USAGE ON FOREIGN DATA WRAPPER webflow FROM wf_conn_owner;
DROP ROLE wf_conn_owner;
DROP SERVER careers CASCADE;
REVOKE EXECUTE ON FUNCTION webflow.get_authorization_user_info() FROM wf_conn_user;
DROP ROLE wf_conn_user;
RESET client_min_messages;
