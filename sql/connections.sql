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

SET client_min_messages = warning;
DROP SERVER wf_mine CASCADE;
REVOKE USAGE ON FOREIGN DATA WRAPPER webflow FROM wf_conn_owner;
DROP ROLE wf_conn_owner;
DROP SERVER careers CASCADE;
REVOKE EXECUTE ON FUNCTION webflow.get_authorization_user_info() FROM wf_conn_user;
DROP ROLE wf_conn_user;
RESET client_min_messages;
