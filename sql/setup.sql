-- setup: helpers the other pg_regress tests use to drive the local Webflow
-- fake and to show errors without their timing.
CREATE SCHEMA wftest;
GRANT USAGE ON SCHEMA wftest TO PUBLIC;

-- wftest.admin calls the fake's /_admin API (fault control, log, reset).
CREATE FUNCTION wftest.admin(method text, path text, body jsonb DEFAULT NULL,
                             query jsonb DEFAULT NULL)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    saved text := current_setting('webflow.api_url');
    result jsonb;
BEGIN
    PERFORM set_config('webflow.api_url', current_setting('webflow_test.admin_url'), true);
    result := webflow.request(method, path, body, query);
    PERFORM set_config('webflow.api_url', saved, true);
    RETURN result;
END $$;

-- wftest.reset puts the fake back to its fixture state.
CREATE FUNCTION wftest.reset() RETURNS void LANGUAGE sql AS $$
    SELECT wftest.admin('POST', '/reset');
    SELECT NULL::void;
$$;

-- wftest.fault queues faults at the fake.
CREATE FUNCTION wftest.fault(fault jsonb) RETURNS void LANGUAGE sql AS $$
    SELECT wftest.admin('POST', '/faults', fault);
    SELECT NULL::void;
$$;

-- wftest.clear_log forgets the requests the fake has seen.
CREATE FUNCTION wftest.clear_log() RETURNS void LANGUAGE sql AS $$
    SELECT wftest.admin('DELETE', '/log');
    SELECT NULL::void;
$$;

-- wftest.clear_faults drops the faults not yet used.
CREATE FUNCTION wftest.clear_faults() RETURNS void LANGUAGE sql AS $$
    SELECT wftest.admin('DELETE', '/faults');
    SELECT NULL::void;
$$;

-- wftest.requests lists the API requests the fake saw since the last reset.
CREATE FUNCTION wftest.requests()
RETURNS TABLE (method text, path text, query jsonb, status int, items int)
LANGUAGE sql AS $$
    SELECT e->>'method', e->>'path', e->'query', (e->>'status')::int,
           (e->>'items_in_body')::int
    FROM jsonb_array_elements(wftest.admin('GET', '/log')) e
    ORDER BY (e->>'seq')::bigint
$$;

-- wftest.error_of runs a statement and returns 'SQLSTATE: message', or 'ok'.
CREATE FUNCTION wftest.error_of(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, '[0-9]+ ms', 'N ms', 'g');
END $$;

-- wftest.error_full also returns the detail and the hint.
CREATE FUNCTION wftest.error_full(sql text)
RETURNS TABLE (sqlstate text, message text, detail text, hint text)
LANGUAGE plpgsql AS $$
DECLARE
    s text; m text; d text; h text;
BEGIN
    EXECUTE sql;
    RETURN QUERY SELECT 'ok'::text, NULL::text, NULL::text, NULL::text;
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS s = RETURNED_SQLSTATE, m = MESSAGE_TEXT,
                            d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    RETURN QUERY SELECT s, regexp_replace(m, '[0-9]+ ms', 'N ms', 'g'),
                        regexp_replace(d, '[0-9]+ (ms|milliseconds)', 'N \1', 'g'), h;
END $$;

-- wftest.point_database_at gives the database the fake's URL and a token
-- file, for the background workers drain() starts (they read the server's
-- and the database's settings, not the session's); only make installcheck
-- (test/installcheck) names them, scripts/test configures the server.
CREATE FUNCTION wftest.point_database_at(url text, token_file text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF url <> '' THEN
        EXECUTE format('ALTER DATABASE %I SET webflow.api_url = %L', current_database(), url);
        EXECUTE format('ALTER DATABASE %I SET webflow.token_file = %L', current_database(), token_file);
    END IF;
END $$;
\getenv installcheck_url WEBFLOW_INSTALLCHECK_URL
\getenv installcheck_token_file WEBFLOW_INSTALLCHECK_TOKEN_FILE
\if :{?installcheck_url}
\else
\set installcheck_url ''
\set installcheck_token_file ''
\endif
SELECT wftest.point_database_at(:'installcheck_url', :'installcheck_token_file');

SELECT wftest.reset();
SELECT count(*) > 0 AS fake_answers FROM webflow.list_sites();
