-- webflow--1.0--1.1.sql: from release 1.0 to 1.1 (ALTER EXTENSION webflow UPDATE).
--
-- Every SQL change since 1.0 is here; a new install runs webflow--1.0.sql
-- and then this script.  Queued changes, the item map and the bindings are
-- kept; functions keep their OIDs and grants (CREATE OR REPLACE).

\echo Use "ALTER EXTENSION webflow UPDATE TO '1.1'" to load this file. \quit

-------------------------------------------------------------------------
-- The library: this SQL needs the library of 1.1 (or later) loaded
-------------------------------------------------------------------------

-- The version of the webflow library the server has loaded.  Its C symbol
-- is new in 1.1: while the server still runs the 1.0 library (loaded at
-- start from shared_preload_libraries), creating the function fails, and
-- the update stops here, before anything changed, saying what to do.
-- Every role may call it: it tells a version, nothing else.
DO $guard$
BEGIN
    CREATE FUNCTION @extschema@.library_version() RETURNS text
    LANGUAGE C STRICT PARALLEL SAFE
    AS 'MODULE_PATHNAME', 'webflow_library_version';
EXCEPTION WHEN undefined_function THEN
    RAISE EXCEPTION 'the webflow library loaded by this server is older than 1.1'
        USING ERRCODE = 'object_not_in_prerequisite_state',
              DETAIL = SQLERRM,
              HINT = 'Install the webflow 1.1 library and restart PostgreSQL (the library is loaded at start), then run ALTER EXTENSION webflow UPDATE again.';
END
$guard$;
COMMENT ON FUNCTION @extschema@.library_version() IS
'The version of the webflow library this server has loaded (compare with pg_extension.extversion)';

-------------------------------------------------------------------------
-- Privileges: no code a non-superuser controls runs as the extension owner
-------------------------------------------------------------------------

-- The rows of a user's table as (row key, jsonb image), read as the
-- table's owner in a security-restricted operation (source_images.c).
CREATE FUNCTION @extschema@._source_images(source regclass, key_columns text[],
                                           max_rows bigint DEFAULT NULL)
RETURNS TABLE (row_key text, row_image jsonb)
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'webflow_source_images';
COMMENT ON FUNCTION @extschema@._source_images(regclass, text[], bigint) IS
'Private: the row key and jsonb image of each row of a table, read as the table''s owner (superusers only)';
REVOKE EXECUTE ON FUNCTION @extschema@._source_images(regclass, text[], bigint) FROM PUBLIC;

-- A collection belongs to the role whose table bound it first: the items
-- of its rows are that role's, in webflow.items and in Webflow, and stay
-- so after unbind.  Another role's table may feed it only when a
-- superuser binds it.
CREATE TABLE @extschema@.collection_owners (
    collection_id text PRIMARY KEY CHECK (collection_id ~ '^[0-9a-f]{24}$'),
    owner         regrole NOT NULL,
    claimed_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE @extschema@.collection_owners IS
'The role each Webflow collection belongs to: the owner of the table that bound it first (kept after unbind); only its tables, or a superuser''s bind, feed the collection';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.collection_owners', '');
REVOKE ALL ON @extschema@.collection_owners FROM PUBLIC;
-- from 1.0: a bound collection belongs to the owner of its first bound
-- table; one the item map knows of but no table feeds, to the extension
-- owner (only a superuser binds it)
INSERT INTO @extschema@.collection_owners (collection_id, owner)
SELECT DISTINCT ON (b.collection_id) b.collection_id, c.relowner::regrole
FROM @extschema@.bindings b JOIN pg_catalog.pg_class c ON c.oid = b.source
ORDER BY b.collection_id, b.id;
INSERT INTO @extschema@.collection_owners (collection_id, owner)
SELECT DISTINCT i.collection_id, c.relowner::regrole
FROM @extschema@.items i, pg_catalog.pg_class c
WHERE c.oid = '@extschema@.items'::regclass
ON CONFLICT (collection_id) DO NOTHING;

-- _claim_collection makes sure a collection may be fed by a table of
-- table_owner: it claims a free collection for that role, or checks that
-- the role holds (or has the privileges of) its claimant; may_override
-- (a superuser's bind) lets another role's table feed it all the same.
-- A claim in progress in another transaction is waited for (the unique
-- key), so two binds cannot both take a collection.  A claim of a role
-- dropped since passes to the owner of a table that still feeds the
-- collection, else to table_owner.
CREATE FUNCTION @extschema@._claim_collection(collection_id text, table_owner oid,
                                              may_override boolean)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    claimant oid;
BEGIN
    INSERT INTO @extschema@.collection_owners AS o (collection_id, owner)
    VALUES (collection_id, table_owner::regrole)
    ON CONFLICT ON CONSTRAINT collection_owners_pkey DO NOTHING;
    SELECT o.owner INTO claimant FROM @extschema@.collection_owners o
    WHERE o.collection_id = _claim_collection.collection_id FOR UPDATE;
    IF NOT EXISTS (SELECT 1 FROM pg_roles r WHERE r.oid = claimant) THEN
        claimant := coalesce((SELECT c.relowner
                              FROM @extschema@.bindings b JOIN pg_class c ON c.oid = b.source
                              WHERE b.collection_id = _claim_collection.collection_id
                              ORDER BY b.id LIMIT 1), table_owner);
        UPDATE @extschema@.collection_owners o SET owner = claimant::regrole, claimed_at = now()
        WHERE o.collection_id = _claim_collection.collection_id;
    END IF;
    IF claimant <> table_owner AND NOT pg_has_role(table_owner, claimant, 'USAGE')
       AND NOT may_override THEN
        RAISE EXCEPTION 'Webflow collection % belongs to role %', collection_id, claimant::regrole
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'The items of a collection are those of the role whose table bound it first; only that role''s tables feed it.',
                  HINT = 'Bind another collection, or have a superuser bind the table with webflow.bind() (or hand the collection over in webflow.collection_owners).';
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@._claim_collection(text, oid, boolean) IS
'Private: claim a collection for the owner of a table about to feed it, or check that the owner holds it';
REVOKE EXECUTE ON FUNCTION @extschema@._claim_collection(text, oid, boolean) FROM PUBLIC;

-- _publish_triggers: the extension's triggers on a table for a collection,
-- found by their function and first argument (a renamed one too).
CREATE FUNCTION @extschema@._publish_triggers(source regclass, collection_id text)
RETURNS SETOF name
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT t.tgname FROM pg_catalog.pg_trigger t
    WHERE t.tgrelid = source AND NOT t.tgisinternal
      AND t.tgfoid IN ('@extschema@.publish_trigger()'::regprocedure,
                       '@extschema@._truncate_trigger()'::regprocedure)
      AND t.tgnargs >= 1
      AND pg_catalog.split_part(pg_catalog.encode(t.tgargs, 'escape'), E'\\000', 1) = collection_id
$$;
COMMENT ON FUNCTION @extschema@._publish_triggers(regclass, text) IS
'Private: the publish and TRUNCATE triggers of the extension on a table for a collection, whatever their names';
REVOKE EXECUTE ON FUNCTION @extschema@._publish_triggers(regclass, text) FROM PUBLIC;

-- _bind is the body of bind(): run as the extension owner by bind() (C),
-- which has checked that the caller owns source; caller is its oid.
CREATE FUNCTION @extschema@._bind(source regclass, collection_id text, options jsonb, caller oid)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    key_cols text[];
    opt text;
    sample jsonb;
    binding integer;
    fetched boolean := false;
    trigger_name name;
    other record;
    table_owner oid;
    conn_name text;
    moved boolean;
BEGIN
    IF source IS NULL OR collection_id IS NULL OR options IS NULL THEN
        RAISE EXCEPTION 'source, collection_id and options must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = source) THEN
        RAISE EXCEPTION 'relation with OID % does not exist', source::oid
            USING ERRCODE = 'undefined_table';
    END IF;
    IF (SELECT relkind FROM pg_class WHERE oid = source) NOT IN ('r', 'p') THEN
        RAISE EXCEPTION '% is not a table', source
            USING ERRCODE = 'wrong_object_type',
                  HINT = 'Bind a table; views and foreign tables have no row triggers for this.';
    END IF;
    IF (SELECT relpersistence FROM pg_class WHERE oid = source) = 't' THEN
        RAISE EXCEPTION 'table % is temporary', source
            USING ERRCODE = 'wrong_object_type',
                  DETAIL = 'A temporary table goes away with its session, and no DROP tells the extension.';
    END IF;
    IF source::oid < 16384
       OR (SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE c.oid = source) IN ('@extschema@', 'pg_catalog', 'information_schema', 'pg_toast') THEN
        RAISE EXCEPTION 'table % cannot be bound', source
            USING ERRCODE = 'wrong_object_type',
                  DETAIL = 'The tables of the webflow extension and the system catalogs are not published.';
    END IF;
    IF collection_id !~ '^[0-9a-f]{24}$' THEN
        RAISE EXCEPTION 'collection_id "%" is not a Webflow id', collection_id
            USING ERRCODE = 'invalid_parameter_value',
                  DETAIL = 'Webflow ids are 24 lowercase hexadecimal characters.',
                  HINT = 'Find it with webflow.list_collections(site_id).';
    END IF;
    IF jsonb_typeof(options) <> 'object' THEN
        RAISE EXCEPTION 'options must be a JSON object'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    FOR opt IN SELECT jsonb_object_keys(options) LOOP
        IF opt NOT IN ('fields', 'exclude', 'draft', 'archived', 'locale',
                       'key', 'on_delete', 'live', 'connection') THEN
            RAISE EXCEPTION 'unknown binding option "%"', opt
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'Options are fields, exclude, draft, archived, locale (as for webflow.item_payload), key, on_delete, live and connection.';
        END IF;
    END LOOP;
    IF options ? 'on_delete' AND (jsonb_typeof(options->'on_delete') <> 'string' OR
       options->>'on_delete' NOT IN ('unpublish', 'unpublish_only', 'archive', 'ignore')) THEN
        RAISE EXCEPTION 'option "on_delete" must be unpublish, unpublish_only, archive or ignore'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF options ? 'exclude' AND (jsonb_typeof(options->'exclude') <> 'array' OR
       EXISTS (SELECT 1 FROM jsonb_array_elements(options->'exclude') e
               WHERE jsonb_typeof(e) <> 'string')) THEN
        RAISE EXCEPTION 'option "exclude" must be an array of column names'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'For example {"exclude": ["internal_note"]}.';
    END IF;
    IF options ? 'fields' AND jsonb_typeof(options->'fields') <> 'object' THEN
        RAISE EXCEPTION 'option "fields" must be an object of column names and field slugs'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'For example {"fields": {"author_id": "author"}}.';
    END IF;
    IF options ? 'live' AND jsonb_typeof(options->'live') <> 'boolean' THEN
        RAISE EXCEPTION 'option "live" must be true or false'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- (bind() checked, as the caller, that the caller may use the
    -- connection; the binding keeps it apart from the trigger's options)
    IF options ? 'connection' AND jsonb_typeof(options->'connection') NOT IN ('string', 'null') THEN
        RAISE EXCEPTION 'option "connection" must be the name of a webflow connection'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    conn_name := nullif(options->>'connection', '');
    options := options - 'connection';
    key_cols := @extschema@._binding_key_columns(source, options);
    -- a collection belongs to one role: rows of the tables bound to it share
    -- the item map by key, so another role's rows could replace or delete
    -- its items (also after it unbound its table)
    table_owner := (SELECT p.relowner FROM pg_class p WHERE p.oid = _bind.source);
    PERFORM @extschema@._claim_collection(collection_id, table_owner,
                                          (SELECT rolsuper FROM pg_roles WHERE oid = caller));
    SELECT x.source, c.relowner INTO other
    FROM @extschema@.bindings x JOIN pg_class c ON c.oid = x.source
    WHERE x.collection_id = _bind.collection_id AND x.source <> _bind.source
    LIMIT 1;
    IF FOUND THEN
        RAISE WARNING 'Webflow collection % is also bound to table %', collection_id, other.source
            USING DETAIL = 'webflow.items knows rows by collection and row key: rows of the two tables with the same key share one item.',
                  HINT = 'Bind one table per collection, or give the tables keys that never collide (a partitioned table gathers several).';
    END IF;
    IF (SELECT relispartition FROM pg_class WHERE oid = source) THEN
        RAISE EXCEPTION '% is a partition: bind its partitioned table', source
            USING ERRCODE = 'wrong_object_type';
    END IF;

    -- the collection and its fields, when Webflow can be reached
    BEGIN
        PERFORM @extschema@.refresh_schema(collection_id);
        fetched := true;
    EXCEPTION WHEN SQLSTATE 'WF404' THEN
        RAISE EXCEPTION 'Webflow collection % does not exist', collection_id
            USING ERRCODE = 'WF404',
                  HINT = 'Find the id with webflow.list_collections(site_id).';
    WHEN SQLSTATE 'WF000' OR SQLSTATE 'WF408' OR SQLSTATE 'WF401' OR SQLSTATE 'WF403'
         OR SQLSTATE 'WF429' OR SQLSTATE 'WF500' OR SQLSTATE 'WF502' OR SQLSTATE '22023' THEN
        RAISE NOTICE 'could not check collection % against Webflow now: %', collection_id, SQLERRM
            USING HINT = 'The field mapping is checked when the first row is sent.';
    END;

    SELECT b.connection IS DISTINCT FROM conn_name INTO moved
    FROM @extschema@.bindings b
    WHERE b.source = _bind.source AND b.collection_id = _bind.collection_id;
    INSERT INTO @extschema@.bindings AS b (source, collection_id, options, key_columns,
                                           connection, bound_by, connection_owner)
    VALUES (source, collection_id, options, key_cols, conn_name, caller::regrole,
            (SELECT s.srvowner FROM pg_foreign_server s WHERE s.srvname = conn_name)::regrole)
    ON CONFLICT ON CONSTRAINT bindings_source_collection_id_key
    DO UPDATE SET options = EXCLUDED.options, key_columns = EXCLUDED.key_columns,
                  connection = EXCLUDED.connection, bound_by = EXCLUDED.bound_by,
                  connection_owner = EXCLUDED.connection_owner, key_checked = true
    RETURNING b.id INTO binding;
    -- changes that wait for the old connection's pause go over the new one now
    IF moved THEN
        UPDATE @extschema@.outbox o SET next_attempt_at = now()
        WHERE o.binding_id = binding AND o.state = 'pending' AND o.next_attempt_at > now()
          AND o.next_attempt_at <> o.enqueued_at;  -- (outbox_due's rows)
    END IF;

    -- a typo in the field mapping fails now, not at 3 a.m.
    IF fetched THEN
        SELECT s.row_image INTO sample
        FROM @extschema@._source_images(source, key_cols, 1) s;
        IF sample IS NOT NULL THEN
            PERFORM @extschema@._payload_hash(binding, sample, true);
        ELSE
            -- an empty table: check the mapping with a row of NULLs
            SELECT jsonb_object_agg(attname, NULL) INTO sample
            FROM pg_attribute WHERE attrelid = source AND attnum > 0 AND NOT attisdropped;
            BEGIN
                PERFORM @extschema@._payload_hash(binding, sample, true);
            EXCEPTION WHEN not_null_violation THEN
                -- NULLs where values are required are the sample's fault;
                -- a required field that no column feeds is the mapping's
                IF SQLERRM LIKE '%has no column%' THEN
                    RAISE;
                END IF;
            END;
        END IF;
    END IF;

    FOR trigger_name IN SELECT * FROM @extschema@._publish_triggers(source, collection_id) LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', trigger_name, source);
    END LOOP;
    EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE ON %s '
                   'FOR EACH ROW EXECUTE FUNCTION @extschema@.publish_trigger(%L, %L)',
                   'webflow_publish_' || collection_id, source, collection_id, options::text);
    EXECUTE format('CREATE TRIGGER %I AFTER TRUNCATE ON %s '
                   'FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._truncate_trigger(%L)',
                   'webflow_truncate_' || collection_id, source, collection_id);
END
$$;
COMMENT ON FUNCTION @extschema@._bind(regclass, text, jsonb, oid) IS
'Private: the body of webflow.bind(), run as the extension owner after bind() checked that the caller owns the table';
REVOKE EXECUTE ON FUNCTION @extschema@._bind(regclass, text, jsonb, oid) FROM PUBLIC;

CREATE OR REPLACE FUNCTION @extschema@.bind(source regclass, collection_id text, options jsonb DEFAULT '{}')
RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'webflow_bind';

-- _unbind is the body of unbind(), run as the extension owner.
CREATE FUNCTION @extschema@._unbind(source regclass, collection_id text, caller oid)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    b record;
    n integer := 0;
    trigger_name name;
BEGIN
    IF source IS NULL THEN
        RAISE EXCEPTION 'source must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    FOR b IN SELECT * FROM @extschema@.bindings x
             WHERE x.source = _unbind.source
               AND (_unbind.collection_id IS NULL OR x.collection_id = _unbind.collection_id) LOOP
        -- (renamed ones too: a trigger left behind would bind the table again)
        FOR trigger_name IN SELECT * FROM @extschema@._publish_triggers(source, b.collection_id) LOOP
            EXECUTE format('DROP TRIGGER %I ON %s', trigger_name, source);
        END LOOP;
        DELETE FROM @extschema@.outbox WHERE binding_id = b.id AND state <> 'sending';
        DELETE FROM @extschema@.outbox_packed WHERE binding_id = b.id;
        DELETE FROM @extschema@.bindings WHERE id = b.id;
        n := n + 1;
    END LOOP;
    IF n = 0 THEN
        RAISE EXCEPTION 'table % is not bound%', source,
            CASE WHEN collection_id IS NULL THEN '' ELSE ' to collection ' || collection_id END
            USING ERRCODE = 'undefined_object';
    END IF;
    RETURN n;
END
$$;
COMMENT ON FUNCTION @extschema@._unbind(regclass, text, oid) IS
'Private: the body of webflow.unbind(), run as the extension owner after unbind() checked that the caller owns the table';
REVOKE EXECUTE ON FUNCTION @extschema@._unbind(regclass, text, oid) FROM PUBLIC;

CREATE OR REPLACE FUNCTION @extschema@.unbind(source regclass, collection_id text DEFAULT NULL)
RETURNS integer
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'webflow_unbind';

-- (_sync, the body of sync(), is defined with verify() below)
CREATE OR REPLACE FUNCTION @extschema@.sync(source regclass)
RETURNS bigint
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'webflow_sync';

-- _retry is the body of retry(), run as the extension owner: a superuser
-- requeues every row, another role the rows of tables it owns.
CREATE FUNCTION @extschema@._retry(failed_only boolean, caller oid)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
    everything boolean := coalesce((SELECT rolsuper FROM pg_roles WHERE oid = caller), false);
BEGIN
    UPDATE @extschema@.outbox o
    SET state = 'pending', attempts = 0, next_attempt_at = now()
    WHERE (o.state = 'failed'
           OR (NOT coalesce(failed_only, true) AND o.state = 'pending' AND o.next_attempt_at > now()
               AND o.next_attempt_at <> o.enqueued_at))  -- (outbox_due's rows)
      AND (everything
           OR EXISTS (SELECT 1 FROM @extschema@.bindings b JOIN pg_class c ON c.oid = b.source
                      WHERE b.id = o.binding_id AND pg_has_role(caller, c.relowner, 'USAGE')));
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM @extschema@.wake();
    RETURN n;
END
$$;
COMMENT ON FUNCTION @extschema@._retry(boolean, oid) IS
'Private: the body of webflow.retry(), run as the extension owner; a superuser requeues every row, another role those of the tables it owns';
REVOKE EXECUTE ON FUNCTION @extschema@._retry(boolean, oid) FROM PUBLIC;

CREATE OR REPLACE FUNCTION @extschema@.retry(failed_only boolean DEFAULT true)
RETURNS bigint
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'webflow_retry';
COMMENT ON FUNCTION @extschema@.retry(boolean) IS
'Queue failed changes again (and, with failed_only => false, send changes waiting for a retry now); a superuser requeues every row, another role those of the tables it owns; returns the number of rows requeued';

-- The old bodies of bind/unbind/sync/retry were SECURITY DEFINER: the C
-- entry points above are not (CREATE OR REPLACE reset that, and their SET).
--
-- The three SECURITY DEFINER functions left, restated unchanged here so
-- that each says why it is safe:

-- SECURITY DEFINER, safe because: it fires only as the TRUNCATE trigger
-- that _bind creates (EXECUTE is revoked, so no role can attach it to a
-- table of its own), it finds the binding by the truncated table's oid and
-- the collection id of the trigger's definition, it reads and writes only
-- the extension's tables with fixed statements (search_path pinned), and
-- it evaluates nothing of the table: no row, cast or function of its owner.
CREATE OR REPLACE FUNCTION @extschema@._truncate_trigger()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    b record;
BEGIN
    SELECT * INTO b FROM @extschema@.bindings x
    WHERE x.source = TG_RELID AND x.collection_id = TG_ARGV[0];
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF EXISTS (SELECT 1 FROM @extschema@.bindings x
               WHERE x.collection_id = b.collection_id AND x.id <> b.id) THEN
        RAISE WARNING 'TRUNCATE of % is not published to Webflow', TG_RELID::regclass
            USING DETAIL = 'Another table also feeds collection ' || b.collection_id
                           || ', and the item map does not tell their rows apart.',
                  HINT = 'The items of its rows stay in Webflow: delete them with webflow.delete_items().';
        RETURN NULL;
    END IF;
    -- The keys to delete are read from the item map and the queue: under
    -- REPEATABLE READ from a snapshot older than the table's lock, which
    -- misses the rows published since, and their items would stay.
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'TRUNCATE of bound table % must run in a READ COMMITTED transaction', TG_RELID::regclass
            USING ERRCODE = 'feature_not_supported',
                  DETAIL = 'The transaction is ' || upper(current_setting('transaction_isolation'))
                           || ': the items of rows added since its snapshot would stay in Webflow.',
                  HINT = 'TRUNCATE outside the transaction, or in one started with BEGIN ISOLATION LEVEL READ COMMITTED.';
    END IF;
    INSERT INTO @extschema@.outbox (binding_id, op, row_key, row_image)
    SELECT b.id, 'delete', k.key, NULL
    FROM (SELECT i.source_key AS key FROM @extschema@.items i
          WHERE i.collection_id = b.collection_id
          UNION
          -- (a failed row made no item, unless a create of it may have
          -- been carried out before it failed)
          SELECT o.row_key FROM @extschema@.outbox o
          WHERE o.binding_id = b.id AND (o.state <> 'failed' OR o.maybe_sent)
          UNION
          SELECT pk.key FROM @extschema@.outbox_packed p, unnest(p.row_keys) AS pk(key)
          WHERE p.binding_id = b.id) k
    ORDER BY k.key;
    PERFORM @extschema@.wake();
    RETURN NULL;
END
$$;

-- SECURITY DEFINER, safe because: drain() only starts a background worker
-- that connects as the extension owner (the definer) and runs the same
-- passes as the server's worker: fixed statements on the extension's
-- tables, payloads built from the jsonb images the triggers stored (no
-- cast, function or table of any user is evaluated), search_path pinned
-- in the worker; the caller chooses only max_rows, an integer.
CREATE OR REPLACE FUNCTION @extschema@.drain(max_rows integer DEFAULT NULL)
RETURNS integer
LANGUAGE C VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'webflow_drain';

-- SECURITY DEFINER, safe because: an event trigger runs on every role's
-- DROP; it reads only pg_event_trigger_dropped_objects() (what PostgreSQL
-- reports was dropped) and deletes the extension's own rows for dropped
-- tables, with fixed statements and a pinned search_path.
CREATE OR REPLACE FUNCTION @extschema@._drop_bindings()
RETURNS event_trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- (a dropped column is reported with its table's objid and its number
    -- in objsubid: only the table itself going takes its binding)
    -- Rows in flight are left to the worker, as unbind() leaves them: it
    -- records them without waiting for the dropping transaction, and drops
    -- those of a binding gone at its next claim.
    DELETE FROM @extschema@.outbox o USING @extschema@.bindings b, pg_event_trigger_dropped_objects() d
    WHERE o.binding_id = b.id AND d.classid = 'pg_class'::regclass AND d.objid = b.source::oid
      AND d.objsubid = 0 AND o.state <> 'sending';
    DELETE FROM @extschema@.outbox_packed o USING @extschema@.bindings b, pg_event_trigger_dropped_objects() d
    WHERE o.binding_id = b.id AND d.classid = 'pg_class'::regclass AND d.objid = b.source::oid
      AND d.objsubid = 0;
    DELETE FROM @extschema@.bindings b USING pg_event_trigger_dropped_objects() d
    WHERE d.classid = 'pg_class'::regclass AND d.objid = b.source::oid AND d.objsubid = 0;
END
$$;

-------------------------------------------------------------------------
-- What a site visitor sees against the table: verify(), and sync() that
-- repairs what changed in Webflow
-------------------------------------------------------------------------

CREATE FUNCTION @extschema@._binding_payload(binding_id integer, "row" jsonb)
RETURNS jsonb
LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'webflow_binding_payload';
COMMENT ON FUNCTION @extschema@._binding_payload(integer, jsonb) IS
'Private: the item a row becomes under a binding, as the worker sends it; NULL when the row cannot become an item';
REVOKE EXECUTE ON FUNCTION @extschema@._binding_payload(integer, jsonb) FROM PUBLIC;

-- _visible_items: the items of a collection a binding publishes to, as a
-- site visitor sees them: live items (all pages), or the staged items for a
-- binding with "live": false.
CREATE FUNCTION @extschema@._visible_items(collection_id text, live boolean)
RETURNS SETOF jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF live THEN
        RETURN QUERY SELECT i FROM @extschema@.list_live_items(collection_id) i;
    ELSE
        RETURN QUERY SELECT i FROM @extschema@.list_items(collection_id) i;
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@._visible_items(text, boolean) IS
'Private: the live items of a collection (all pages), or its staged items when live is false';
REVOKE EXECUTE ON FUNCTION @extschema@._visible_items(text, boolean) FROM PUBLIC;

-- _differences compares one binding's table with its collection: each row's
-- item is the one the item map names, else an item no other row owns with
-- the row's slug.
CREATE FUNCTION @extschema@._differences(binding_id integer)
RETURNS TABLE (difference text, row_key text, item_id text, fields text[])
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    b record;
BEGIN
    SELECT * INTO b FROM @extschema@.bindings x WHERE x.id = _differences.binding_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'binding % does not exist', binding_id USING ERRCODE = 'undefined_object';
    END IF;
    -- Webflow is read over the binding's connection (for the extension
    -- owner's requests only: the table owner's code never gets it)
    PERFORM @extschema@._use_binding_connection(b.id);
    RETURN QUERY
    WITH r AS MATERIALIZED (
        SELECT s.row_key AS k, @extschema@._binding_payload(b.id, s.row_image) AS p
        FROM @extschema@._source_images(b.source, b.key_columns) s),
    w AS MATERIALIZED (
        SELECT v->>'id' AS id, coalesce(v->'fieldData', '{}') AS fd
        FROM @extschema@._visible_items(b.collection_id,
                                        coalesce((b.options->>'live')::boolean, true)) v
        -- (an archived item is on no page of the site)
        WHERE NOT coalesce((v->>'isArchived')::boolean, false)),
    m AS MATERIALIZED (
        SELECT i.source_key AS k, i.item_id AS id
        FROM @extschema@.items i WHERE i.collection_id = b.collection_id),
    matched AS MATERIALIZED (
        SELECT r.k, r.p, coalesce(wm.id, ws.id) AS id
        FROM r
        LEFT JOIN m ON m.k = r.k
        LEFT JOIN w wm ON wm.id = m.id
        LEFT JOIN LATERAL (
            SELECT w2.id FROM w w2
            WHERE wm.id IS NULL AND r.p IS NOT NULL
              AND w2.fd->>'slug' = r.p->'fieldData'->>'slug'
              AND NOT EXISTS (SELECT 1 FROM m m2 WHERE m2.id = w2.id AND m2.k <> r.k)
            LIMIT 1) ws ON true)
    SELECT 'missing'::text, x.k, NULL::text, NULL::text[]
    FROM matched x WHERE x.id IS NULL
    UNION ALL
    SELECT 'stale', x.k, x.id, f.fields
    FROM matched x JOIN w ON w.id = x.id
    CROSS JOIN LATERAL (
        SELECT array_agg(e.key ORDER BY e.key) AS fields
        FROM jsonb_each(x.p->'fieldData') e
        WHERE coalesce(w.fd->e.key, 'null') IS DISTINCT FROM e.value) f
    WHERE f.fields IS NOT NULL
    UNION ALL
    -- items no row explains: a second item of a row (same name), or extra
    -- (with the key of the gone row the item map still names, if any)
    SELECT CASE WHEN dup.k IS NOT NULL THEN 'duplicate' ELSE 'extra' END,
           coalesce(dup.k, m.k), w.id, NULL::text[]
    FROM w
    LEFT JOIN m ON m.id = w.id
    LEFT JOIN LATERAL (
        SELECT x.k FROM matched x JOIN w w3 ON w3.id = x.id
        WHERE w3.fd->>'name' = w.fd->>'name'
        ORDER BY x.k LIMIT 1) dup ON true
    WHERE NOT EXISTS (SELECT 1 FROM matched x WHERE x.id = w.id);
    PERFORM @extschema@._use_binding_connection(NULL);
END
$$;
COMMENT ON FUNCTION @extschema@._differences(integer) IS
'Private: the differences between a binding''s table and the items of its collection that a site visitor sees';
REVOKE EXECUTE ON FUNCTION @extschema@._differences(integer) FROM PUBLIC;

-- _require_bound refuses a NULL table, or one that is not bound (sync, verify).
CREATE FUNCTION @extschema@._require_bound(source regclass)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF source IS NULL THEN
        RAISE EXCEPTION 'source must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM @extschema@.bindings x WHERE x.source = _require_bound.source) THEN
        RAISE EXCEPTION 'table % is not bound to a Webflow collection', source
            USING ERRCODE = 'undefined_object',
                  HINT = 'Bind it first with webflow.bind(table, collection_id).';
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@._require_bound(regclass) IS
'Private: refuse a NULL table or one that is not bound to a Webflow collection';
REVOKE EXECUTE ON FUNCTION @extschema@._require_bound(regclass) FROM PUBLIC;

-- _verify is the body of verify(), run as the extension owner after
-- verify() (C) checked that the caller owns the table.
CREATE FUNCTION @extschema@._verify(source regclass, caller oid)
RETURNS TABLE (difference text, row_key text, item_id text, fields text[])
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    b record;
BEGIN
    PERFORM @extschema@._require_bound(source);
    FOR b IN SELECT x.id FROM @extschema@.bindings x WHERE x.source = _verify.source ORDER BY x.id LOOP
        RETURN QUERY SELECT d.difference, d.row_key, d.item_id, d.fields
                     FROM @extschema@._differences(b.id) d
                     ORDER BY d.difference, d.row_key, d.item_id;
    END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@._verify(regclass, oid) IS
'Private: the body of webflow.verify(), run as the extension owner after verify() checked that the caller owns the table';
REVOKE EXECUTE ON FUNCTION @extschema@._verify(regclass, oid) FROM PUBLIC;

CREATE FUNCTION @extschema@.verify(source regclass)
RETURNS TABLE (difference text, row_key text, item_id text, fields text[])
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'webflow_verify';
COMMENT ON FUNCTION @extschema@.verify(regclass) IS
'Compare a bound table with what a site visitor sees in its collection (every page of the live items, read now): one row per difference (missing, stale, extra, duplicate) with the row key, the item id and the fields that differ; changes nothing';
REVOKE EXECUTE ON FUNCTION @extschema@.verify(regclass) FROM PUBLIC;

-- _sync is the body of sync(), run as the extension owner after sync() (C)
-- checked that the caller owns the table; the table is read as its own
-- owner, through _source_images.  It also reads the collection, so that
-- items edited, unpublished or deleted in Webflow are repaired; when
-- Webflow cannot be read it says so and queues what differs from what was
-- last sent.
CREATE FUNCTION @extschema@._sync(source regclass, caller oid)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    b record;
    n bigint;
    total bigint := 0;
    repair text[];
BEGIN
    PERFORM @extschema@._require_bound(source);
    FOR b IN SELECT x.*, NOT EXISTS (SELECT 1 FROM @extschema@.bindings y
                                     WHERE y.collection_id = x.collection_id
                                       AND y.id <> x.id) AS sole
             FROM @extschema@.bindings x WHERE x.source = _sync.source LOOP
        -- rows whose item is missing or differs in Webflow now
        BEGIN
            SELECT coalesce(array_agg(DISTINCT d.row_key), '{}') INTO repair
            FROM @extschema@._differences(b.id) d
            WHERE d.difference IN ('missing', 'stale') AND d.row_key IS NOT NULL;
        EXCEPTION WHEN SQLSTATE 'WF000' OR SQLSTATE 'WF408' OR SQLSTATE 'WF401' OR SQLSTATE 'WF403'
                  OR SQLSTATE 'WF404' OR SQLSTATE 'WF429' OR SQLSTATE 'WF500' OR SQLSTATE 'WF502' THEN
            RAISE WARNING 'could not read collection % from Webflow: %', b.collection_id, SQLERRM
                USING HINT = 'Only rows whose item differs from what was last sent are queued; run webflow.sync() again later to repair changes made in Webflow.';
            repair := '{}';
        END;
        -- The table's writers wait from here until the caller's transaction
        -- ends: a change of a row committed between the read of its image
        -- below and the commit of the change queued from it would be older
        -- in the queue than that image and lose to it.  (Under REPEATABLE
        -- READ the images would be read from a snapshot older than the
        -- lock: sync() refuses to run there.)
        IF current_setting('transaction_isolation') <> 'read committed' THEN
            RAISE EXCEPTION 'webflow.sync() must run in a READ COMMITTED transaction'
                USING ERRCODE = 'feature_not_supported',
                      DETAIL = 'The transaction is ' || upper(current_setting('transaction_isolation'))
                               || ': rows changed since its snapshot would be queued with their old images after their new ones.',
                      HINT = 'Call webflow.sync() outside the transaction, or in one started with BEGIN ISOLATION LEVEL READ COMMITTED.';
        END IF;
        EXECUTE format('LOCK TABLE %s IN SHARE MODE', source);
        -- (the worker sends them again in full, slug included: their
        -- changes are queued as maybe sent, which makes the worker trust
        -- neither the payload nor the slug the item map last recorded; the
        -- item map itself is not written here, so that a caller's open
        -- transaction never holds rows the worker has to write)
        -- every row whose item differs, then the items of rows that are gone
        -- (when no other table feeds the collection)
        WITH r AS MATERIALIZED (
            SELECT s.row_key AS k, s.row_image AS j
            FROM @extschema@._source_images(source, b.key_columns) s),
        changes AS (
            SELECT 0 AS ord, 'upsert' AS op, r.k, r.j, i.item_id IS NOT NULL AS mapped
            FROM r LEFT JOIN @extschema@.items i
                   ON i.collection_id = b.collection_id AND i.source_key = r.k
            WHERE i.item_id IS NULL
               OR r.k = ANY (repair)
               OR i.payload_hash IS DISTINCT FROM @extschema@._payload_hash(b.id, r.j)
            UNION ALL
            SELECT 1, 'delete', i.source_key, NULL, true
            FROM @extschema@.items i
            WHERE b.sole AND i.collection_id = b.collection_id
              AND NOT EXISTS (SELECT 1 FROM r WHERE r.k = i.source_key)
              -- (not items archived or left as drafts already: they gave their slug up)
              AND NOT coalesce(i.slug = i.item_id OR i.slug LIKE '%-' || i.item_id, false))
        -- (a row with no item that has rows queued is not marked: its
        -- state now was never sent, and looking an item up under it could
        -- take another row's; the queued rows of an earlier create of its
        -- that may have been carried out are marked, and come along.  One
        -- with nothing queued, after unbind() and bind() say, is looked up
        -- under its state now before it is created; the keys queued are
        -- read once, as a hashed subplan, not once per row)
        INSERT INTO @extschema@.outbox (binding_id, op, row_key, row_image, maybe_sent)
        SELECT b.id, c.op, c.k, c.j,
               c.k = ANY (repair)
               AND (c.mapped OR c.k NOT IN (SELECT o.row_key FROM @extschema@.outbox o
                                            WHERE o.binding_id = b.id))
        FROM changes c ORDER BY c.ord;
        GET DIAGNOSTICS n = ROW_COUNT;
        total := total + n;
    END LOOP;
    PERFORM @extschema@.wake();
    RETURN total;
END
$$;
COMMENT ON FUNCTION @extschema@._sync(regclass, oid) IS
'Private: the body of webflow.sync(), run as the extension owner after sync() checked that the caller owns the table';
REVOKE EXECUTE ON FUNCTION @extschema@._sync(regclass, oid) FROM PUBLIC;
COMMENT ON FUNCTION @extschema@.sync(regclass) IS
'Queue every row of a bound table whose item is missing or differs, in Webflow now (every page of the collection is read) or from what was last sent, and the deletion of items whose row is gone; returns the number of changes queued';

-------------------------------------------------------------------------
-- Named connections: foreign servers of the webflow wrapper (SQL/MED)
-------------------------------------------------------------------------

-- The validator of the wrapper's options: servers take api_url, user
-- mappings a token (or a token_file, set by superusers);
-- anything else is refused (connection.c).  PostgreSQL calls it itself,
-- with no privilege check, so nobody needs EXECUTE.
CREATE FUNCTION @extschema@._connection_validator(options text[], catalog oid)
RETURNS void
LANGUAGE C STRICT
AS 'MODULE_PATHNAME', 'webflow_connection_validator';
COMMENT ON FUNCTION @extschema@._connection_validator(text[], oid) IS
'Private: the validator of the webflow foreign-data wrapper''s options';
REVOKE EXECUTE ON FUNCTION @extschema@._connection_validator(text[], oid) FROM PUBLIC;

-- Connections: CREATE SERVER careers FOREIGN DATA WRAPPER webflow
-- OPTIONS (api_url '...'); CREATE USER MAPPING FOR role
-- SERVER careers OPTIONS (token '...'); SET webflow.connection = 'careers'.
-- Only superusers may create servers until they grant USAGE on the wrapper.
CREATE FOREIGN DATA WRAPPER webflow VALIDATOR @extschema@._connection_validator;
COMMENT ON FOREIGN DATA WRAPPER webflow IS
'Named Webflow connections: servers (api_url) and user mappings (token or token_file), chosen with SET webflow.connection';

-- A binding publishes over the connection bind()'s "connection" option
-- names (NULL: the default one), with the token of the user mapping of
-- the role that bound the table (bound_by), looked up at every pass.
ALTER TABLE @extschema@.bindings
    ADD COLUMN connection text CHECK (connection <> ''),
    ADD COLUMN bound_by regrole,
    ADD COLUMN connection_owner regrole;
COMMENT ON COLUMN @extschema@.bindings.connection IS
'The webflow connection (foreign server) the binding publishes over; NULL for the default connection';
COMMENT ON COLUMN @extschema@.bindings.bound_by IS
'The role that bound the table: its user mapping (or PUBLIC''s) gives the connection''s token';
COMMENT ON COLUMN @extschema@.bindings.connection_owner IS
'The owner of the connection''s server when the table was bound: a server of that name with another owner is not used';

-- _use_binding_connection pins a binding's connection for the extension
-- owner's requests in verify() and sync() (connection.c, binding.c).
CREATE FUNCTION @extschema@._use_binding_connection(binding_id integer)
RETURNS void
LANGUAGE C
AS 'MODULE_PATHNAME', 'webflow_use_binding_connection';
COMMENT ON FUNCTION @extschema@._use_binding_connection(integer) IS
'Private: makes the extension owner''s requests go over a binding''s connection until NULL or the end of the transaction';
REVOKE EXECUTE ON FUNCTION @extschema@._use_binding_connection(integer) FROM PUBLIC;

-- Each connection's request budget (per token), open to every role as
-- worker_status() is: no token, only figures and pauses.
CREATE FUNCTION @extschema@.connections()
RETURNS TABLE (connection text, rate_limit integer, requests bigint,
               requests_last_minute integer, server_rate_limit integer,
               server_remaining integer, paused_until timestamptz,
               paused_because text, last_used timestamptz)
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'webflow_connections';
COMMENT ON FUNCTION @extschema@.connections() IS
'The request budget of each connection in use (shared by the worker and every drain()): rate limit, requests, requests in the last minute, Webflow''s own figures, and whether and why it is paused';

-- The budget a binding publishes with (its connection's token as the role
-- that bound it uses it), or why that role may not use it now; open to
-- every role as connections() is, since webflow.status calls it.
CREATE FUNCTION @extschema@.binding_budget(binding_id integer,
    OUT rate_limit integer, OUT requests_last_minute integer,
    OUT paused_until timestamptz, OUT paused_because text)
LANGUAGE C STABLE STRICT
AS 'MODULE_PATHNAME', 'webflow_binding_budget';
COMMENT ON FUNCTION @extschema@.binding_budget(integer) IS
'The request budget a binding publishes with: its rate limit, requests in the last minute, and whether and why it is paused (or why its connection cannot be used now)';

-------------------------------------------------------------------------
-- The writer pays less (issue 12): one index entry per queued row
-------------------------------------------------------------------------
-- A statement's changes written 500 or more at a time are packed: one row
-- per binding holds them as arrays, out of line and uncompressed, in a
-- table without an index (outbox_pack.c), so the writer makes no outbox
-- index entry for them.  The pass unpacks them into the outbox, with the
-- ids they were given, before it claims; a claim takes no fresh change of
-- a binding newer than its oldest packed one (drain.c).  (Made first: the
-- drops below fire _drop_bindings, which reads it.)
CREATE TABLE @extschema@.outbox_packed (
    binding_id  integer NOT NULL,
    first_id    bigint NOT NULL,
    ids         bigint[] NOT NULL,
    upserts     boolean[] NOT NULL,
    row_keys    text[] NOT NULL,
    row_images  jsonb[] NOT NULL,
    enqueued_at timestamptz NOT NULL
);
ALTER TABLE @extschema@.outbox_packed
    ALTER COLUMN ids SET STORAGE EXTERNAL,
    ALTER COLUMN upserts SET STORAGE EXTERNAL,
    ALTER COLUMN row_keys SET STORAGE EXTERNAL,
    ALTER COLUMN row_images SET STORAGE EXTERNAL,
    REPLICA IDENTITY FULL;
COMMENT ON TABLE @extschema@.outbox_packed IS
'Changes of bound tables written many at once by one statement, one row per binding, until a pass moves them into webflow.outbox';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.outbox_packed', '');
REVOKE ALL ON @extschema@.outbox_packed FROM PUBLIC;

-- Every queued change, packed or not, as rows of the outbox
CREATE VIEW @extschema@.queue AS
SELECT o.id, o.binding_id, o.op, o.row_key, o.row_image, o.enqueued_at, o.attempts,
       o.next_attempt_at, o.state, o.claimed_at, o.maybe_sent, o.last_error, o.last_status,
       false AS packed
FROM @extschema@.outbox o
UNION ALL
SELECT u.id, p.binding_id, CASE WHEN u.upsert THEN 'upsert' ELSE 'delete' END, u.row_key,
       u.row_image, p.enqueued_at, 0, p.enqueued_at, 'pending', NULL, false, NULL, NULL,
       true
FROM @extschema@.outbox_packed p
CROSS JOIN LATERAL ROWS FROM (unnest(p.ids), unnest(p.upserts), unnest(p.row_keys),
                              unnest(p.row_images)) AS u(id, upsert, row_key, row_image);
COMMENT ON VIEW @extschema@.queue IS
'Every queued change: the rows of webflow.outbox, and the changes still packed in webflow.outbox_packed (packed = true), which the next passes move into the outbox';
REVOKE ALL ON @extschema@.queue FROM PUBLIC;

-- A fresh row (pending, never put back: next_attempt_at = enqueued_at, as
-- the trigger writes every row) is in one index only, outbox_fresh on its
-- id; every other row is in outbox_row, and the pending ones among them in
-- outbox_due.  The writer so makes one index entry per row, at the right
-- end of outbox_fresh, instead of three (outbox_pkey, outbox_due,
-- outbox_row, two of them in the middle of their trees).  The claim takes
-- the oldest fresh rows by id and the due others by due time (drain.c),
-- the record step finds claimed rows by binding, key and id (record.c).
-- The id's uniqueness is the sequence's (ids are only what nextval gave
-- or reserved, below), so the primary key goes; the outbox's replica identity is its full row, so
-- that a publication FOR ALL TABLES does not stop the worker's updates.
ALTER TABLE @extschema@.outbox DROP CONSTRAINT outbox_pkey;
DROP INDEX @extschema@.outbox_due;
DROP INDEX @extschema@.outbox_row;
CREATE INDEX outbox_fresh ON @extschema@.outbox (id)
    WHERE state = 'pending' AND next_attempt_at = enqueued_at;
CREATE INDEX outbox_due ON @extschema@.outbox (next_attempt_at)
    WHERE state = 'pending' AND next_attempt_at <> enqueued_at;
CREATE INDEX outbox_row ON @extschema@.outbox (binding_id, row_key, id)
    WHERE state <> 'pending' OR next_attempt_at <> enqueued_at;
ALTER TABLE @extschema@.outbox REPLICA IDENTITY FULL;

-- The trigger's rows of a statement are written together when its
-- triggers are done (outbox_batch.c): one nextval per 1024 rows, which
-- reserves the value it returns and the 1023 below it (the nextval before
-- it returned value - 1024; no later one returns less, whatever increment
-- it uses), instead of one per row.  Ids still rise in the order rows are
-- written, and a key's rows in the order of its changes.
ALTER SEQUENCE @extschema@.outbox_id_seq INCREMENT BY 1024;

-- the status counts packed changes as pending
CREATE OR REPLACE VIEW @extschema@.status AS
SELECT b.id AS binding_id,
       b.source,
       b.collection_id,
       coalesce(o.pending, 0) + coalesce(p.pending, 0) AS pending,
       coalesce(o.sending, 0) AS sending,
       coalesce(o.failed, 0) AS failed,
       now() - least(o.oldest_pending, p.oldest_pending) AS oldest_pending_age,
       b.last_success,
       b.last_error,
       b.last_error_at,
       c.paused_because,
       coalesce(b.connection, '') AS connection,
       c.rate_limit,
       c.requests_last_minute,
       c.paused_until
FROM @extschema@.bindings b
LEFT JOIN (SELECT binding_id,
                  count(*) FILTER (WHERE state = 'pending') AS pending,
                  count(*) FILTER (WHERE state = 'sending') AS sending,
                  count(*) FILTER (WHERE state = 'failed') AS failed,
                  min(enqueued_at) FILTER (WHERE state = 'pending') AS oldest_pending
           FROM @extschema@.outbox GROUP BY binding_id) o ON o.binding_id = b.id
LEFT JOIN (SELECT binding_id, sum(cardinality(ids)) AS pending, min(enqueued_at) AS oldest_pending
           FROM @extschema@.outbox_packed GROUP BY binding_id) p ON p.binding_id = b.id
CROSS JOIN LATERAL @extschema@.binding_budget(b.id) c;
COMMENT ON VIEW @extschema@.status IS
'Per binding: changes pending, sending and failed, the age of the oldest pending one, last success, last error, and its connection''s budget: whether and why sending is paused, the rate limit and the requests of the last minute';

-- end of the writer pays less

-------------------------------------------------------------------------
-- Keys are unique: a "key" option names columns a unique index covers
-------------------------------------------------------------------------
CREATE FUNCTION @extschema@._check_key_types(source regclass, cols text[])
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    bad_column name;
    bad_type text;
BEGIN
    -- a row key is the key's text in the row image, which must be the
    -- same in every session: one row could get two keys, or two rows one.
    -- The text of timestamptz, timetz, interval, float4/8, money (time
    -- zone, float digits, interval style, currency), bytea (bytea_output),
    -- reg* (search_path), of ranges over dates and times (DateStyle), of
    -- geometric types (float digits) is not; json and jsonb do not tell
    -- "1" from 1; types of extensions are unknown.  So only these are
    -- accepted: booleans, integers, oid, numeric, text, varchar, bpchar,
    -- name, "char", uuid, date, timestamp, time, inet, cidr, macaddr(8),
    -- bit, varbit, enums, ranges and multiranges of int4, int8 and
    -- numeric, and domains and arrays of them; not composite types, whose
    -- text holds their attributes' names (ALTER TYPE ... RENAME ATTRIBUTE
    -- would change every key).
    -- An enum, range or multirange made by a user is written by to_jsonb
    -- through its cast to json or jsonb when it has one (a function of its
    -- owner's): refused then.  (Multiranges exist from PostgreSQL 14 on.)
    SELECT c INTO bad_column FROM unnest(cols) AS c
    WHERE NOT EXISTS (SELECT 1 FROM pg_attribute a
                      WHERE a.attrelid = source AND a.attname = c AND a.attnum > 0
                        AND NOT a.attisdropped)
    LIMIT 1;
    IF bad_column IS NOT NULL THEN
        RAISE EXCEPTION 'key column "%" of table % does not exist', bad_column, source
            USING ERRCODE = 'undefined_column',
                  DETAIL = 'A bound table''s key columns cannot be renamed or dropped: its rows would change keys.',
                  HINT = 'Unbind the table first, or bind it again with the "key" option naming its columns.';
    END IF;
    EXECUTE format($q$
    WITH RECURSIVE part(attname, typ, top) AS (
        SELECT a.attname, a.atttypid, format_type(a.atttypid, a.atttypmod)
        FROM pg_attribute a
        WHERE a.attrelid = $1 AND a.attname = ANY ($2) AND a.attnum > 0
      UNION
        SELECT p.attname, x.typ, p.top
        FROM part p
        JOIN pg_type t ON t.oid = p.typ
        CROSS JOIN LATERAL (
            SELECT t.typbasetype WHERE t.typtype = 'd'
            UNION ALL SELECT t.typelem WHERE t.typtype = 'b' AND t.typelem <> 0 AND t.typlen = -1
            UNION ALL SELECT c.atttypid FROM pg_attribute c
                      WHERE t.typtype = 'c' AND c.attrelid = t.typrelid
                        AND c.attnum > 0 AND NOT c.attisdropped
            %s) x(typ)
    )
    SELECT p.attname, p.top
    FROM part p
    JOIN pg_type t ON t.oid = p.typ
    LEFT JOIN pg_range r ON r.rngtypid = t.oid
    WHERE CASE
            WHEN t.typtype IN ('e', 'r', 'm') AND t.oid >= 16384
                 AND EXISTS (SELECT 1 FROM pg_cast k
                             WHERE k.castsource = t.oid
                               AND k.casttarget IN ('json'::regtype, 'jsonb'::regtype)) THEN true
            WHEN t.typtype = 'c' THEN true
            WHEN t.typtype IN ('d', 'e', 'm') THEN false
            WHEN t.typtype = 'r' THEN r.rngsubtype NOT IN ('int4'::regtype, 'int8'::regtype, 'numeric'::regtype)
            WHEN t.typelem <> 0 AND t.typlen = -1 THEN false
            ELSE t.oid NOT IN ('bool'::regtype, 'int2'::regtype, 'int4'::regtype, 'int8'::regtype,
                               'oid'::regtype, 'numeric'::regtype, 'text'::regtype, 'varchar'::regtype,
                               'bpchar'::regtype, 'name'::regtype, '"char"'::regtype, 'uuid'::regtype,
                               'date'::regtype, 'timestamp'::regtype, 'time'::regtype, 'inet'::regtype,
                               'cidr'::regtype, 'macaddr'::regtype, 'macaddr8'::regtype, 'bit'::regtype,
                               'varbit'::regtype)
          END
    LIMIT 1$q$,
        CASE WHEN current_setting('server_version_num')::int >= 140000
             THEN 'UNION ALL SELECT m.rngtypid FROM pg_range m WHERE t.typtype = ''m'' AND m.rngmultitypid = t.oid'
             ELSE '' END)
    INTO bad_column, bad_type USING source, cols;
    IF bad_column IS NOT NULL THEN
        RAISE EXCEPTION 'key column "%" of table % has type %, whose text does not identify a row',
                        bad_column, source, bad_type
            USING ERRCODE = 'invalid_table_definition',
                  DETAIL = 'Rows are told apart in Webflow by the text of their key, which must be the same in '
                           || 'every session; the text of this type (or of a part of it) depends on the writing '
                           || 'session''s settings (time zone, float digits, DateStyle, bytea_output, search_path), '
                           || 'does not tell a string from a number (json), is a cast''s to json (an enum or range '
                           || 'with one), holds attribute names ALTER TYPE can rename (composite types), or is not '
                           || 'known (types of extensions).',
                  HINT = 'Name a key of another type in the "key" option (text, an integer, numeric, uuid, date, timestamp).';
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@._check_key_types(regclass, text[]) IS
'Private: refuses key columns that are gone, or of a type whose text could differ between sessions or rows of one value (an allow-list)';
REVOKE EXECUTE ON FUNCTION @extschema@._check_key_types(regclass, text[]) FROM PUBLIC;

CREATE OR REPLACE FUNCTION @extschema@._binding_key_columns(source regclass, options jsonb)
RETURNS text[]
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cols text[];
    col text;
BEGIN
    IF options ? 'key' THEN
        IF jsonb_typeof(options->'key') = 'string' THEN
            cols := ARRAY[options->>'key'];
        ELSIF jsonb_typeof(options->'key') = 'array' AND jsonb_array_length(options->'key') > 0
              AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(options->'key') e
                              WHERE jsonb_typeof(e) <> 'string') THEN
            SELECT array_agg(k ORDER BY o) INTO cols
            FROM jsonb_array_elements_text(options->'key') WITH ORDINALITY AS e(k, o);
        ELSE
            RAISE EXCEPTION 'option "key" must be a column name or an array of column names'
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        FOREACH col IN ARRAY cols LOOP
            IF NOT EXISTS (SELECT 1 FROM pg_attribute
                           WHERE attrelid = source AND attname = col
                             AND attnum > 0 AND NOT attisdropped) THEN
                RAISE EXCEPTION 'key column "%" does not exist in table %', col, source
                    USING ERRCODE = 'undefined_column',
                          HINT = 'Name existing columns in the "key" option.';
            END IF;
        END LOOP;
        -- the order of a key's changes is the order of their ids, which is
        -- the order they commit only when writers of one key wait for each
        -- other: a unique index on (some of) the key columns makes them
        IF NOT EXISTS (SELECT 1 FROM pg_index i
                       WHERE i.indrelid = source AND i.indisunique AND i.indimmediate
                         AND i.indisvalid AND i.indisready
                         AND i.indpred IS NULL AND i.indexprs IS NULL
                         AND (SELECT bool_and(a.attname::text = ANY (cols))
                              FROM unnest(i.indkey[0:i.indnkeyatts - 1]) AS k(attnum)
                              JOIN pg_attribute a ON a.attrelid = source AND a.attnum = k.attnum)) THEN
            RAISE EXCEPTION 'key columns of table % are not unique', source
                USING ERRCODE = 'invalid_table_definition',
                      DETAIL = 'No unique, non-deferrable index of the table is on the key columns ('
                               || array_to_string(cols, ', ') || ') or some of them: two transactions '
                               || 'could write one key out of the order they commit in, and the older '
                               || 'change would win in Webflow.',
                      HINT = 'Create a unique index on the key columns, or name a unique key in the "key" option.';
        END IF;
        PERFORM @extschema@._check_key_types(source, cols);
        RETURN cols;
    END IF;
    SELECT array_agg(a.attname::text ORDER BY k.ord) INTO cols
    FROM pg_index i
    CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
    WHERE i.indrelid = source AND i.indisprimary AND k.ord <= i.indnkeyatts;
    -- (the publish trigger knows a primary key checked at once only)
    IF cols IS NOT NULL AND NOT EXISTS (SELECT 1 FROM pg_index i
                                        WHERE i.indrelid = source AND i.indisprimary
                                          AND i.indimmediate) THEN
        RAISE EXCEPTION 'the primary key of table % is deferrable', source
            USING ERRCODE = 'invalid_table_definition',
                  DETAIL = 'A deferrable primary key does not identify rows as they are written.',
                  HINT = 'Name columns with a unique, non-deferrable index: options => ''{"key": "column"}''.';
    END IF;
    IF cols IS NULL THEN
        RAISE EXCEPTION 'table % has no primary key to identify its rows in Webflow', source
            USING ERRCODE = 'invalid_table_definition',
                  HINT = 'Add a primary key, or name the key columns: options => ''{"key": "column"}''.';
    END IF;
    PERFORM @extschema@._check_key_types(source, cols);
    RETURN cols;
END
$$;
COMMENT ON FUNCTION @extschema@._binding_key_columns(regclass, jsonb) IS
'Private: the columns that identify a bound table''s rows: the "key" option, else the primary key';
REVOKE EXECUTE ON FUNCTION @extschema@._binding_key_columns(regclass, jsonb) FROM PUBLIC;

-- A key checked when its table was bound stays checked: bindings made or
-- bound again from 1.1 on are marked (key_checked; those of 1.0 are not,
-- and keep working as before), and a DDL command that leaves one of them
-- with a key whose text does not identify a row is refused: a column of
-- its key renamed, dropped or altered (ALTER TABLE, also of an
-- inheritance parent or of a table whose row type it uses), a composite
-- type or domain of its key altered or dropped with its columns (ALTER
-- TYPE, ALTER DOMAIN; any drop with CASCADE), a cast to json of its enum
-- or range (CREATE CAST).
ALTER TABLE @extschema@.bindings ADD COLUMN key_checked boolean NOT NULL DEFAULT false;
ALTER TABLE @extschema@.bindings ALTER COLUMN key_checked SET DEFAULT true;
COMMENT ON COLUMN @extschema@.bindings.key_checked IS
'Whether the key''s columns and types were checked when the table was bound (1.1 on): DDL that would break them is refused';

CREATE FUNCTION @extschema@._check_altered_keys()
RETURNS event_trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    b record;
BEGIN
    -- SECURITY DEFINER, and why that is safe: it fires for every role's
    -- DDL and reads webflow.bindings, which most roles may not read; it
    -- runs fixed statements on the catalogs and that table only, with a
    -- pinned search_path, and calls no function a role could have written
    -- (_check_key_types reads catalogs and calls format_type).  A command
    -- reaches tables other than those it names (inheritance children,
    -- typed tables), so the tables are found by their locks: every
    -- command that alters a column takes ACCESS EXCLUSIVE on its table,
    -- and the bindings of the tables this transaction holds so are
    -- checked.  A binding whose key another command broke (one that
    -- event triggers do not see: session_replication_role = replica)
    -- then holds up only its own table's DDL, not every role's.  A cast
    -- locks no table: a CREATE CAST to json or jsonb (the casts to_jsonb
    -- calls) checks every binding.  (Key columns dropped, also through a
    -- CASCADE, are _check_dropped_keys'.)
    FOR b IN
        SELECT bd.source, bd.key_columns
        FROM @extschema@.bindings bd
        WHERE bd.key_checked
          AND (bd.source::oid IN (SELECT l.relation FROM pg_catalog.pg_locks l
                                  WHERE l.locktype OPERATOR(pg_catalog.=) 'relation'
                                    AND l.mode OPERATOR(pg_catalog.=) 'AccessExclusiveLock'
                                    AND l.granted
                                    AND l.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid())
               OR EXISTS (SELECT FROM pg_catalog.pg_event_trigger_ddl_commands() c
                          JOIN pg_catalog.pg_cast k ON k.oid OPERATOR(pg_catalog.=) c.objid
                          WHERE c.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_cast'::pg_catalog.regclass
                            AND k.casttarget IN ('pg_catalog.json'::pg_catalog.regtype,
                                                 'pg_catalog.jsonb'::pg_catalog.regtype)))
    LOOP
        PERFORM @extschema@._check_key_types(b.source, b.key_columns);
    END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@._check_altered_keys() IS
'Private: event trigger that refuses DDL leaving a bound table with a key whose text does not identify a row';
REVOKE EXECUTE ON FUNCTION @extschema@._check_altered_keys() FROM PUBLIC;
CREATE EVENT TRIGGER webflow_check_altered_keys ON ddl_command_end
    WHEN TAG IN ('ALTER TABLE', 'ALTER FOREIGN TABLE', 'ALTER TYPE', 'ALTER DOMAIN', 'CREATE CAST')
    EXECUTE FUNCTION @extschema@._check_altered_keys();

CREATE FUNCTION @extschema@._check_dropped_keys()
RETURNS event_trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d record;
BEGIN
    -- SECURITY DEFINER, and why that is safe: it fires for every role's
    -- drops and reads webflow.bindings, which most roles may not read;
    -- it runs one fixed statement on that table and on what PostgreSQL
    -- says the command dropped, with a pinned search_path, and calls no
    -- function a role could have written.  A key column goes with its
    -- table's ALTER TABLE ... DROP COLUMN, or with what it is made of
    -- (a type, domain, collation, the function or operator of a
    -- generated column, a schema, a role's objects, an extension:
    -- CASCADE); a table dropped whole takes its binding with it.
    SELECT bd.source, c.address_names[3] AS col INTO d
    FROM pg_catalog.pg_event_trigger_dropped_objects() c
    JOIN @extschema@.bindings bd
      ON bd.source::oid OPERATOR(pg_catalog.=) c.objid
     AND c.address_names[3] OPERATOR(pg_catalog.=) ANY (bd.key_columns)
    WHERE c.object_type OPERATOR(pg_catalog.=) 'table column' AND bd.key_checked
      AND NOT EXISTS (SELECT FROM pg_catalog.pg_event_trigger_dropped_objects() t
                      WHERE t.objid OPERATOR(pg_catalog.=) c.objid
                        AND t.objsubid OPERATOR(pg_catalog.=) 0
                        AND t.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass)
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'key column "%" of table % cannot be dropped', d.col, d.source
            USING ERRCODE = 'dependent_objects_still_exist',
                  DETAIL = 'A bound table''s key columns cannot be renamed or dropped: its rows would change keys.',
                  HINT = 'Unbind the table first, or bind it again with the "key" option naming other columns.';
    END IF;
END
$$;
COMMENT ON FUNCTION @extschema@._check_dropped_keys() IS
'Private: event trigger that refuses a drop that takes a bound table''s key column with it';
REVOKE EXECUTE ON FUNCTION @extschema@._check_dropped_keys() FROM PUBLIC;
CREATE EVENT TRIGGER webflow_check_dropped_keys ON sql_drop
    EXECUTE FUNCTION @extschema@._check_dropped_keys();

-- end of keys are unique
