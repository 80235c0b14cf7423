-- http_faults: what a user sees when the network or the API misbehaves.
-- Runs against the fake directly (the spec proxy would mask the faults).
SELECT wftest.reset();
\set site '''580e63e98c9a982ac9b8b741'''

-- server errors, with and without a body
SELECT wftest.fault('{"status": 500, "body": {"message": "Internal error", "code": "internal_error", "externalReference": null, "details": []}}');
SELECT * FROM wftest.error_full('SELECT webflow.get_site(' || :'site' || ')');
SELECT wftest.fault('{"status": 503, "raw": ""}');
SELECT * FROM wftest.error_full('SELECT webflow.get_site(' || :'site' || ')');
SELECT wftest.fault('{"status": 502, "raw": "<html>bad gateway</html>"}');
SELECT * FROM wftest.error_full('SELECT webflow.get_site(' || :'site' || ')');

-- rate limited, with and without Retry-After
SELECT wftest.fault('{"status": 429, "retry_after": 7, "body": {"message": "Too Many Requests", "code": "too_many_requests", "externalReference": null, "details": []}}');
SELECT * FROM wftest.error_full('SELECT webflow.get_site(' || :'site' || ')');
SELECT wftest.fault('{"status": 429, "body": {"message": "Too Many Requests", "code": "too_many_requests", "externalReference": null, "details": []}}');
SELECT * FROM wftest.error_full('SELECT webflow.get_site(' || :'site' || ')');

-- redirects are not followed
SELECT wftest.fault('{"status": 302, "raw": "", "headers": {"Location": "https://elsewhere.example/v2/sites"}}');
SELECT * FROM wftest.error_full('SELECT webflow.list_sites()');

-- a 200 whose body is not JSON
SELECT wftest.fault('{"malformed": true}');
SELECT * FROM wftest.error_full('SELECT webflow.get_site(' || :'site' || ')');

-- the connection dropped after the request was read (twice: libcurl itself
-- retries once on a fresh connection when a reused one dies silently)
SELECT wftest.fault('{"drop": true, "count": 2}');
SELECT * FROM wftest.error_full('SELECT webflow.get_site(' || :'site' || ')');

-- slower than webflow.timeout
SET webflow.timeout = 300;
SELECT wftest.fault('{"delay_ms": 2000}');
SELECT * FROM wftest.error_full('SELECT webflow.get_site(' || :'site' || ')');
RESET webflow.timeout;
-- (the fake finishes the abandoned request 2 s after it began, and logs it
-- then: let it, so that it does not show in a later test's log)
SELECT true AS waited FROM pg_sleep(2.2);

-- nothing listens there
SET webflow.api_url = 'http://127.0.0.1:9/v2';
SELECT * FROM wftest.error_full('SELECT webflow.list_sites()');
RESET webflow.api_url;

-- statement_timeout cancels a request in flight, long before it would end
SELECT wftest.clear_faults();
SELECT wftest.clear_log();
SELECT wftest.fault('{"delay_ms": 4000}');
SET statement_timeout = 300;
CREATE TEMP TABLE t0 AS SELECT clock_timestamp() AS started;
SELECT webflow.get_site(:site);
RESET statement_timeout;
SELECT clock_timestamp() - started < interval '2 s' AS canceled_quickly FROM t0;
SELECT wftest.clear_faults();
-- the fake finishes the abandoned request later: wait for it (bounded)
DO $$
BEGIN
    FOR i IN 1..100 LOOP
        EXIT WHEN (SELECT count(*) FROM wftest.requests()) > 0;
        PERFORM pg_sleep(0.1);
    END LOOP;
END $$;
SELECT count(*) AS abandoned_requests_finished FROM wftest.requests();

-- every response's rate-limit headers are kept
SELECT webflow.get_site(:site) IS NOT NULL AS ok;
SELECT (s->>'rateLimitLimit')::int > 0 AS has_limit,
       (s->>'rateLimitRemaining')::int >= 0 AS has_remaining,
       (s->>'requests')::int > (s->>'connections')::int AS connections_reused
FROM webflow.http_stats() s;
SELECT wftest.fault('{"status": 429, "retry_after": 9, "body": {"message": "Too Many Requests", "code": "too_many_requests", "externalReference": null, "details": []}}');
SELECT wftest.error_of('SELECT webflow.get_site(' || :'site' || ')');
SELECT s->>'retryAfter' AS retry_after FROM webflow.http_stats() s;

-- a path the API does not have
SELECT * FROM wftest.error_full($$SELECT webflow.request('GET', '/nothing/here')$$);
