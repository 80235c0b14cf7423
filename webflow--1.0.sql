-- webflow--1.0.sql: the SQL surface of the webflow extension.
--
-- Functions that call the Webflow API spend the server's token: EXECUTE on
-- them is revoked from PUBLIC and a superuser grants it to whoever may.

\echo Use "CREATE EXTENSION webflow" to load this file. \quit

GRANT USAGE ON SCHEMA @extschema@ TO PUBLIC;

-------------------------------------------------------------------------
-- API: generic request
-------------------------------------------------------------------------

CREATE FUNCTION @extschema@.request(method text, path text,
                                    body jsonb DEFAULT NULL,
                                    query jsonb DEFAULT NULL)
RETURNS jsonb
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'webflow_request';
COMMENT ON FUNCTION @extschema@.request(text, text, jsonb, jsonb) IS
'Send any request to the Webflow API (path relative to webflow.api_url) and return its JSON response; NULL for 204';

-------------------------------------------------------------------------
-- API: token
-------------------------------------------------------------------------

CREATE FUNCTION @extschema@.get_authorization_user_info()
RETURNS jsonb
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'webflow_get_authorization_user_info';
COMMENT ON FUNCTION @extschema@.get_authorization_user_info() IS
'Webflow Get Authorization User Info: the user who authorized the token';

CREATE FUNCTION @extschema@.get_authorization_info()
RETURNS jsonb
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'webflow_get_authorization_info';
COMMENT ON FUNCTION @extschema@.get_authorization_info() IS
'Webflow Get Authorization Info: the token''s scopes, rate limit and the sites it reaches';

-------------------------------------------------------------------------
-- API: sites
-------------------------------------------------------------------------

CREATE FUNCTION @extschema@.list_sites()
RETURNS SETOF jsonb
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'webflow_list_sites';
COMMENT ON FUNCTION @extschema@.list_sites() IS
'Webflow List Sites: one row per site the token can reach';

CREATE FUNCTION @extschema@.get_site(site_id text)
RETURNS jsonb
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'webflow_get_site';
COMMENT ON FUNCTION @extschema@.get_site(text) IS
'Webflow Get Site: one site, with its locales and custom domains';

CREATE FUNCTION @extschema@.get_custom_domains(site_id text)
RETURNS SETOF jsonb
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'webflow_get_custom_domains';
COMMENT ON FUNCTION @extschema@.get_custom_domains(text) IS
'Webflow Get Custom Domains: one row per custom domain of a site';

CREATE FUNCTION @extschema@.publish_site(site_id text,
                                         custom_domains text[] DEFAULT NULL,
                                         publish_to_webflow_subdomain boolean DEFAULT NULL)
RETURNS jsonb
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'webflow_publish_site';
COMMENT ON FUNCTION @extschema@.publish_site(text, text[], boolean) IS
'Webflow Publish Site: publish a site to custom domains (by id) and/or its webflow.io subdomain';

-------------------------------------------------------------------------
-- API: collections
-------------------------------------------------------------------------

CREATE FUNCTION @extschema@.list_collections(site_id text)
RETURNS SETOF jsonb
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'webflow_list_collections';
COMMENT ON FUNCTION @extschema@.list_collections(text) IS
'Webflow List Collections: one row per CMS collection of a site';

CREATE FUNCTION @extschema@.get_collection(collection_id text)
RETURNS jsonb
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'webflow_get_collection';
COMMENT ON FUNCTION @extschema@.get_collection(text) IS
'Webflow Get Collection: a collection with its field schema';

-------------------------------------------------------------------------
-- API: live items
-------------------------------------------------------------------------

CREATE FUNCTION @extschema@.list_live_items(collection_id text,
                                            filter jsonb DEFAULT '{}')
RETURNS SETOF jsonb
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'webflow_list_live_items';
COMMENT ON FUNCTION @extschema@.list_live_items(text, jsonb) IS
'Webflow List Live Items: every published item of a collection (all pages); filter by name, slug, sortBy, sortOrder, cmsLocaleId and lastUpdated/lastPublished/createdOn ranges';

CREATE FUNCTION @extschema@.get_live_item(collection_id text, item_id text)
RETURNS jsonb
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'webflow_get_live_item';
COMMENT ON FUNCTION @extschema@.get_live_item(text, text) IS
'Webflow Get Live Item: one published item';

CREATE FUNCTION @extschema@.create_live_items(collection_id text, items jsonb,
                                              skip_invalid_files boolean DEFAULT true,
                                              options jsonb DEFAULT NULL)
RETURNS SETOF jsonb
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'webflow_create_live_items';
COMMENT ON FUNCTION @extschema@.create_live_items(text, jsonb, boolean, jsonb) IS
'Webflow Create Live Items: create and publish one item or an array of any length (sent 100 at a time); with options, items are table rows turned into items by webflow.item_payload; returns the created items';

CREATE FUNCTION @extschema@.update_live_items(collection_id text, items jsonb,
                                              skip_invalid_files boolean DEFAULT true,
                                              options jsonb DEFAULT NULL)
RETURNS SETOF jsonb
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'webflow_update_live_items';
COMMENT ON FUNCTION @extschema@.update_live_items(text, jsonb, boolean, jsonb) IS
'Webflow Update Live Items: update published items (each with its "id"), 100 at a time; with options, rows (with the item id in "id") are turned into items by webflow.item_payload; returns the updated items';

CREATE FUNCTION @extschema@.unpublish_live_items(collection_id text, item_ids text[])
RETURNS integer
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'webflow_unpublish_live_items';
COMMENT ON FUNCTION @extschema@.unpublish_live_items(text, text[]) IS
'Webflow Unpublish Live Items: take items off the live site (100 ids per request); returns the number of ids sent';

-------------------------------------------------------------------------
-- API: staged items
-------------------------------------------------------------------------

CREATE FUNCTION @extschema@.list_items(collection_id text, filter jsonb DEFAULT '{}')
RETURNS SETOF jsonb
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'webflow_list_items';
COMMENT ON FUNCTION @extschema@.list_items(text, jsonb) IS
'Webflow List Items: every staged item of a collection (all pages), with the same filters as list_live_items';

CREATE FUNCTION @extschema@.get_item(collection_id text, item_id text)
RETURNS jsonb
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'webflow_get_item';
COMMENT ON FUNCTION @extschema@.get_item(text, text) IS
'Webflow Get Item: one staged item';

CREATE FUNCTION @extschema@.create_items(collection_id text, items jsonb,
                                         skip_invalid_files boolean DEFAULT true,
                                         options jsonb DEFAULT NULL)
RETURNS SETOF jsonb
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'webflow_create_items';
COMMENT ON FUNCTION @extschema@.create_items(text, jsonb, boolean, jsonb) IS
'Webflow Create Items: create staged items (drafts unless isDraft is false), 100 at a time; returns the created items';

CREATE FUNCTION @extschema@.update_items(collection_id text, items jsonb,
                                         skip_invalid_files boolean DEFAULT true,
                                         options jsonb DEFAULT NULL)
RETURNS SETOF jsonb
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'webflow_update_items';
COMMENT ON FUNCTION @extschema@.update_items(text, jsonb, boolean, jsonb) IS
'Webflow Update Items: update staged items (each with its "id"), 100 at a time; returns the updated items';

CREATE FUNCTION @extschema@.delete_items(collection_id text, item_ids text[])
RETURNS integer
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'webflow_delete_items';
COMMENT ON FUNCTION @extschema@.delete_items(text, text[]) IS
'Webflow Delete Items: delete staged items (100 ids per request); returns the number of ids sent';

CREATE FUNCTION @extschema@.publish_items(collection_id text, item_ids text[])
RETURNS jsonb
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'webflow_publish_items';
COMMENT ON FUNCTION @extschema@.publish_items(text, text[]) IS
'Webflow Publish Items: publish staged items (100 ids per request); returns {"publishedItemIds": [...], "errors": [...]}';

-------------------------------------------------------------------------
-- API: comments
-------------------------------------------------------------------------

CREATE FUNCTION @extschema@.list_comment_threads(site_id text)
RETURNS SETOF jsonb
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'webflow_list_comment_threads';
COMMENT ON FUNCTION @extschema@.list_comment_threads(text) IS
'Webflow List Comment Threads: every comment thread of a site (all pages)';

CREATE FUNCTION @extschema@.get_comment_thread(site_id text, thread_id text)
RETURNS jsonb
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'webflow_get_comment_thread';
COMMENT ON FUNCTION @extschema@.get_comment_thread(text, text) IS
'Webflow Get Comment Thread: one comment thread';

CREATE FUNCTION @extschema@.list_comment_replies(site_id text, thread_id text)
RETURNS SETOF jsonb
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'webflow_list_comment_replies';
COMMENT ON FUNCTION @extschema@.list_comment_replies(text, text) IS
'Webflow List Comment Replies: every reply of a comment thread (all pages)';

-------------------------------------------------------------------------
-- API: webhooks
-------------------------------------------------------------------------

CREATE FUNCTION @extschema@.list_webhooks(site_id text)
RETURNS SETOF jsonb
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'webflow_list_webhooks';
COMMENT ON FUNCTION @extschema@.list_webhooks(text) IS
'Webflow List Webhooks: one row per webhook of a site';

CREATE FUNCTION @extschema@.get_webhook(webhook_id text)
RETURNS jsonb
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'webflow_get_webhook';
COMMENT ON FUNCTION @extschema@.get_webhook(text) IS
'Webflow Get Webhook: one webhook';

CREATE FUNCTION @extschema@.create_webhook(site_id text, trigger_type text, url text,
                                           filter jsonb DEFAULT NULL)
RETURNS jsonb
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'webflow_create_webhook';
COMMENT ON FUNCTION @extschema@.create_webhook(text, text, text, jsonb) IS
'Webflow Create Webhook: register a webhook for a trigger type (filter only for form_submission)';

CREATE FUNCTION @extschema@.remove_webhook(webhook_id text)
RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'webflow_remove_webhook';
COMMENT ON FUNCTION @extschema@.remove_webhook(text) IS
'Webflow Remove Webhook: delete a webhook';

-------------------------------------------------------------------------
-- Privileges: every function above spends the server's token.
-------------------------------------------------------------------------

REVOKE EXECUTE ON FUNCTION
    @extschema@.request(text, text, jsonb, jsonb),
    @extschema@.get_authorization_user_info(),
    @extschema@.get_authorization_info(),
    @extschema@.list_sites(),
    @extschema@.get_site(text),
    @extschema@.get_custom_domains(text),
    @extschema@.publish_site(text, text[], boolean),
    @extschema@.list_collections(text),
    @extschema@.get_collection(text),
    @extschema@.list_live_items(text, jsonb),
    @extschema@.get_live_item(text, text),
    @extschema@.create_live_items(text, jsonb, boolean, jsonb),
    @extschema@.update_live_items(text, jsonb, boolean, jsonb),
    @extschema@.unpublish_live_items(text, text[]),
    @extschema@.list_items(text, jsonb),
    @extschema@.get_item(text, text),
    @extschema@.create_items(text, jsonb, boolean, jsonb),
    @extschema@.update_items(text, jsonb, boolean, jsonb),
    @extschema@.delete_items(text, text[]),
    @extschema@.publish_items(text, text[]),
    @extschema@.list_comment_threads(text),
    @extschema@.get_comment_thread(text, text),
    @extschema@.list_comment_replies(text, text),
    @extschema@.list_webhooks(text),
    @extschema@.get_webhook(text),
    @extschema@.create_webhook(text, text, text, jsonb),
    @extschema@.remove_webhook(text)
FROM PUBLIC;

-------------------------------------------------------------------------
-- The session's HTTP client
-------------------------------------------------------------------------

CREATE FUNCTION @extschema@.http_stats()
RETURNS jsonb
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'webflow_http_stats';
COMMENT ON FUNCTION @extschema@.http_stats() IS
'This session''s Webflow HTTP client: requests sent, TCP connections opened, and the X-RateLimit-Limit, X-RateLimit-Remaining and Retry-After of the last response';

-- Rows to items (payload.c)
-------------------------------------------------------------------------
-- webflow.slugify and webflow.item_payload turn table rows into the items
-- Webflow accepts; webflow.collection_fields caches the field schemas of
-- collections (filled by webflow.refresh_schema, which calls the API);
-- webflow.items maps source row keys to Webflow item ids (written by the
-- publisher, read by item_payload to resolve Reference fields).
-------------------------------------------------------------------------

CREATE FUNCTION @extschema@.slugify(name text)
RETURNS text
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'webflow_slugify';
COMMENT ON FUNCTION @extschema@.slugify(text) IS
'The Webflow item slug of a name: lowercase a-z, digits and single hyphens; Latin diacritics folded (é→e, ß→ss, æ→ae, ø→o), apostrophes dropped, every other run of characters a hyphen';

CREATE TABLE @extschema@.collection_fields (
    collection_id  text NOT NULL,
    slug           text NOT NULL,
    field_id       text,
    display_name   text,
    type           text NOT NULL,
    is_required    boolean NOT NULL DEFAULT false,
    is_editable    boolean NOT NULL DEFAULT true,
    validations    jsonb,
    refreshed_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (collection_id, slug)
);
COMMENT ON TABLE @extschema@.collection_fields IS
'Cache of the field schemas of Webflow collections (one row per field, as Get Collection returns it); filled by webflow.refresh_schema, read by webflow.item_payload';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.collection_fields', '');
REVOKE ALL ON @extschema@.collection_fields FROM PUBLIC;

-- every change to the cache makes each session drop its parsed copy
CREATE FUNCTION @extschema@._collection_fields_changed()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'webflow_collection_fields_changed';
COMMENT ON FUNCTION @extschema@._collection_fields_changed() IS
'Private: statement trigger that invalidates the per-session cache of webflow.collection_fields';
REVOKE EXECUTE ON FUNCTION @extschema@._collection_fields_changed() FROM PUBLIC;
CREATE TRIGGER collection_fields_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.collection_fields
    FOR EACH STATEMENT EXECUTE FUNCTION @extschema@._collection_fields_changed();

CREATE TABLE @extschema@.items (
    collection_id  text NOT NULL,
    source_key     text NOT NULL,   -- the row key as text; a JSON array text (jsonb output form, e.g. '[1, "a"]') for composite keys
    item_id        text NOT NULL,
    slug           text,
    payload_hash   text,
    last_published timestamptz,
    cms_locale_id  text,
    PRIMARY KEY (collection_id, source_key)
);
CREATE INDEX ON @extschema@.items (collection_id, item_id);
COMMENT ON TABLE @extschema@.items IS
'The item map: the Webflow item id of each published source row, by collection and row key';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.items', '');
REVOKE ALL ON @extschema@.items FROM PUBLIC;

CREATE FUNCTION @extschema@.item_payload("row" jsonb, options jsonb DEFAULT '{}')
RETURNS jsonb
LANGUAGE C STABLE PARALLEL SAFE
AS 'MODULE_PATHNAME', 'webflow_item_payload';
COMMENT ON FUNCTION @extschema@.item_payload(jsonb, jsonb) IS
'The Webflow item {"isArchived", "isDraft", "fieldData", "cmsLocaleId"} of a row (to_jsonb(t)); options: fields, exclude, draft, archived, locale, collection (coerce values by the collection''s field schema)';

CREATE FUNCTION @extschema@.refresh_schema(collection_id text)
RETURNS integer
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'webflow_refresh_schema';
COMMENT ON FUNCTION @extschema@.refresh_schema(text) IS
'Fetch a collection''s fields with Webflow Get Collection into webflow.collection_fields; returns the number of fields';
REVOKE EXECUTE ON FUNCTION @extschema@.refresh_schema(text) FROM PUBLIC;

-- end of rows to items

-------------------------------------------------------------------------
-- Publishing rows from tables (outbox.c, drain.c, send.c, worker.c)
-------------------------------------------------------------------------
-- A bound table has an AFTER ROW trigger (webflow.publish_trigger) that
-- puts each change into webflow.outbox inside the writer's transaction.
-- The background worker, or webflow.drain() from any session, sends the
-- outbox to Webflow and records the item ids in webflow.items.
-------------------------------------------------------------------------

CREATE TABLE @extschema@.bindings (
    id            serial PRIMARY KEY,
    source        regclass NOT NULL,
    collection_id text NOT NULL CHECK (collection_id ~ '^[0-9a-f]{24}$'),
    options       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(options) = 'object'),
    key_columns   text[] NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_success  timestamptz,
    last_error    text,
    last_error_at timestamptz,
    UNIQUE (source, collection_id)
);
COMMENT ON TABLE @extschema@.bindings IS
'Tables bound to Webflow collections: their publish options, key columns, last success and last error';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.bindings', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.bindings_id_seq', '');
REVOKE ALL ON @extschema@.bindings FROM PUBLIC;

CREATE TABLE @extschema@.outbox (
    id              bigserial PRIMARY KEY,
    binding_id      integer NOT NULL,
    op              text NOT NULL CHECK (op IN ('upsert', 'delete')),
    row_key         text NOT NULL,
    row_image       jsonb,
    enqueued_at     timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    state           text NOT NULL DEFAULT 'pending'
                    CHECK (state IN ('pending', 'sending', 'failed')),
    claimed_at      timestamptz,
    maybe_sent      boolean NOT NULL DEFAULT false,
    last_error      text,
    last_status     integer
);
CREATE INDEX outbox_due ON @extschema@.outbox (next_attempt_at, id) WHERE state = 'pending';
CREATE INDEX outbox_row ON @extschema@.outbox (binding_id, row_key, id);
CREATE INDEX outbox_not_pending ON @extschema@.outbox (state) WHERE state <> 'pending';
COMMENT ON TABLE @extschema@.outbox IS
'Changes of bound tables waiting to reach Webflow: one row per change, pending, sending or failed';
SELECT pg_catalog.pg_extension_config_dump('@extschema@.outbox', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.outbox_id_seq', '');
REVOKE ALL ON @extschema@.outbox FROM PUBLIC;

CREATE FUNCTION @extschema@._row_key("row" jsonb, key_columns text[])
RETURNS text
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'webflow_row_key_sql';
COMMENT ON FUNCTION @extschema@._row_key(jsonb, text[]) IS
'Private: the row key of a row image as text (the value of one key column, or the JSON array of several), as webflow.items stores it';

CREATE FUNCTION @extschema@.publish_trigger()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'webflow_publish_trigger';
COMMENT ON FUNCTION @extschema@.publish_trigger() IS
'AFTER INSERT OR UPDATE OR DELETE ... FOR EACH ROW trigger that queues each change of a table for its Webflow collection; arguments: collection id, options as JSON';
REVOKE EXECUTE ON FUNCTION @extschema@.publish_trigger() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION @extschema@._row_key(jsonb, text[]) FROM PUBLIC;

CREATE FUNCTION @extschema@.wake()
RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'webflow_wake';
COMMENT ON FUNCTION @extschema@.wake() IS
'Wake the background worker when the current transaction commits (for rows put into webflow.outbox by other means than the trigger)';

CREATE FUNCTION @extschema@._payload_hash(binding_id integer, "row" jsonb, strict boolean DEFAULT false)
RETURNS text
LANGUAGE C STABLE
AS 'MODULE_PATHNAME', 'webflow_payload_hash';
COMMENT ON FUNCTION @extschema@._payload_hash(integer, jsonb, boolean) IS
'Private: hash of the item a row becomes under a binding, as the worker computes it; when the row cannot become an item, NULL (or, when strict, the error)';
REVOKE EXECUTE ON FUNCTION @extschema@._payload_hash(integer, jsonb, boolean) FROM PUBLIC;

CREATE FUNCTION @extschema@._binding_key_columns(source regclass, options jsonb)
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
        RETURN cols;
    END IF;
    SELECT array_agg(a.attname::text ORDER BY k.ord) INTO cols
    FROM pg_index i
    CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
    JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
    WHERE i.indrelid = source AND i.indisprimary AND k.ord <= i.indnkeyatts;
    IF cols IS NULL THEN
        RAISE EXCEPTION 'table % has no primary key to identify its rows in Webflow', source
            USING ERRCODE = 'invalid_table_definition',
                  HINT = 'Add a primary key, or name the key columns: options => ''{"key": "column"}''.';
    END IF;
    RETURN cols;
END
$$;
COMMENT ON FUNCTION @extschema@._binding_key_columns(regclass, jsonb) IS
'Private: the columns that identify a bound table''s rows: the "key" option, else the primary key';
REVOKE EXECUTE ON FUNCTION @extschema@._binding_key_columns(regclass, jsonb) FROM PUBLIC;

-- TRUNCATE of a bound table deletes the items of its rows: the keys the
-- item map has for the collection and those still queued for the table.
CREATE FUNCTION @extschema@._truncate_trigger()
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
    INSERT INTO @extschema@.outbox (binding_id, op, row_key, row_image)
    SELECT b.id, 'delete', k.key, NULL
    FROM (SELECT i.source_key AS key FROM @extschema@.items i
          WHERE i.collection_id = b.collection_id
          UNION
          SELECT o.row_key FROM @extschema@.outbox o
          WHERE o.binding_id = b.id AND o.state <> 'failed') k
    ORDER BY k.key;
    PERFORM @extschema@.wake();
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION @extschema@._truncate_trigger() IS
'Private: statement trigger of a bound table that queues the deletion of every item of its rows on TRUNCATE';
REVOKE EXECUTE ON FUNCTION @extschema@._truncate_trigger() FROM PUBLIC;

CREATE FUNCTION @extschema@.bind(source regclass, collection_id text, options jsonb DEFAULT '{}')
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    key_cols text[];
    opt text;
    sample jsonb;
    binding integer;
    payload_options jsonb;
    fetched boolean := false;
    trigger_name name;
BEGIN
    IF source IS NULL OR collection_id IS NULL OR options IS NULL THEN
        RAISE EXCEPTION 'source, collection_id and options must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = source) THEN
        RAISE EXCEPTION 'relation with OID % does not exist', source::oid
            USING ERRCODE = 'undefined_table';
    END IF;
    IF NOT pg_has_role(session_user, (SELECT relowner FROM pg_class WHERE oid = source), 'MEMBER') THEN
        RAISE EXCEPTION 'must be owner of table % to bind it', source
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF (SELECT relkind FROM pg_class WHERE oid = source) NOT IN ('r', 'p') THEN
        RAISE EXCEPTION '% is not a table', source
            USING ERRCODE = 'wrong_object_type',
                  HINT = 'Bind a table; views and foreign tables have no row triggers for this.';
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
                       'key', 'on_delete', 'live') THEN
            RAISE EXCEPTION 'unknown binding option "%"', opt
                USING ERRCODE = 'invalid_parameter_value',
                      DETAIL = 'Options are fields, exclude, draft, archived, locale (as for webflow.item_payload), key, on_delete and live.';
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
    key_cols := @extschema@._binding_key_columns(source, options);
    IF EXISTS (SELECT 1 FROM @extschema@.bindings x
               WHERE x.collection_id = bind.collection_id AND x.source <> bind.source) THEN
        RAISE WARNING 'Webflow collection % is also bound to table %', collection_id,
              (SELECT x.source FROM @extschema@.bindings x
               WHERE x.collection_id = bind.collection_id AND x.source <> bind.source LIMIT 1)
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

    INSERT INTO @extschema@.bindings AS b (source, collection_id, options, key_columns)
    VALUES (source, collection_id, options, key_cols)
    ON CONFLICT ON CONSTRAINT bindings_source_collection_id_key
    DO UPDATE SET options = EXCLUDED.options, key_columns = EXCLUDED.key_columns
    RETURNING b.id INTO binding;

    -- a typo in the field mapping fails now, not at 3 a.m.
    IF fetched THEN
        EXECUTE format('SELECT to_jsonb(t) FROM %s t LIMIT 1', source) INTO sample;
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

    FOR trigger_name IN SELECT t.tgname FROM pg_trigger t
                        WHERE t.tgrelid = source
                          AND t.tgname IN ('webflow_publish_' || collection_id,
                                           'webflow_truncate_' || collection_id) LOOP
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
COMMENT ON FUNCTION @extschema@.bind(regclass, text, jsonb) IS
'Bind a table to a Webflow collection: checks the options (and, when Webflow answers, the collection and field mapping), records the binding and creates the publish triggers (rows, and TRUNCATE)';
REVOKE EXECUTE ON FUNCTION @extschema@.bind(regclass, text, jsonb) FROM PUBLIC;

CREATE FUNCTION @extschema@.unbind(source regclass, collection_id text DEFAULT NULL)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
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
    IF NOT pg_has_role(session_user, (SELECT relowner FROM pg_class WHERE oid = source), 'MEMBER') THEN
        RAISE EXCEPTION 'must be owner of table % to unbind it', source
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    FOR b IN SELECT * FROM @extschema@.bindings x
             WHERE x.source = unbind.source
               AND (unbind.collection_id IS NULL OR x.collection_id = unbind.collection_id) LOOP
        FOR trigger_name IN SELECT t.tgname FROM pg_trigger t
                            WHERE t.tgrelid = source
                              AND t.tgname IN ('webflow_publish_' || b.collection_id,
                                               'webflow_truncate_' || b.collection_id) LOOP
            EXECUTE format('DROP TRIGGER %I ON %s', trigger_name, source);
        END LOOP;
        DELETE FROM @extschema@.outbox WHERE binding_id = b.id AND state <> 'sending';
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
COMMENT ON FUNCTION @extschema@.unbind(regclass, text) IS
'Unbind a table (from one collection, or from all): drops the publish triggers, the binding and its queued changes; items already in Webflow stay';
REVOKE EXECUTE ON FUNCTION @extschema@.unbind(regclass, text) FROM PUBLIC;

CREATE FUNCTION @extschema@.sync(source regclass)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    b record;
    n bigint;
    total bigint := 0;
BEGIN
    IF source IS NULL THEN
        RAISE EXCEPTION 'source must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT pg_has_role(session_user, (SELECT relowner FROM pg_class WHERE oid = source), 'MEMBER') THEN
        RAISE EXCEPTION 'must be owner of table % to sync it', source
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM @extschema@.bindings x WHERE x.source = sync.source) THEN
        RAISE EXCEPTION 'table % is not bound to a Webflow collection', source
            USING ERRCODE = 'undefined_object',
                  HINT = 'Bind it first with webflow.bind(table, collection_id).';
    END IF;
    FOR b IN SELECT * FROM @extschema@.bindings x WHERE x.source = sync.source LOOP
        -- every row whose item differs from what Webflow has
        EXECUTE format(
            'INSERT INTO @extschema@.outbox (binding_id, op, row_key, row_image)
             SELECT $1, ''upsert'', r.k, r.j
             FROM (SELECT @extschema@._row_key(to_jsonb(t), $2) AS k, to_jsonb(t) AS j FROM %s t) r
             LEFT JOIN @extschema@.items i ON i.collection_id = $3 AND i.source_key = r.k
             WHERE i.item_id IS NULL
                OR i.payload_hash IS DISTINCT FROM @extschema@._payload_hash($1, r.j)', source)
        USING b.id, b.key_columns, b.collection_id;
        GET DIAGNOSTICS n = ROW_COUNT;
        total := total + n;
        -- items of rows that are gone, when no other table feeds the collection
        IF NOT EXISTS (SELECT 1 FROM @extschema@.bindings x
                       WHERE x.collection_id = b.collection_id AND x.id <> b.id) THEN
            EXECUTE format(
                'INSERT INTO @extschema@.outbox (binding_id, op, row_key, row_image)
                 SELECT $1, ''delete'', i.source_key, NULL
                 FROM @extschema@.items i
                 WHERE i.collection_id = $3
                   AND NOT EXISTS (SELECT 1 FROM %s t
                                   WHERE @extschema@._row_key(to_jsonb(t), $2) = i.source_key)', source)
            USING b.id, b.key_columns, b.collection_id;
            GET DIAGNOSTICS n = ROW_COUNT;
            total := total + n;
        END IF;
    END LOOP;
    PERFORM @extschema@.wake();
    RETURN total;
END
$$;
COMMENT ON FUNCTION @extschema@.sync(regclass) IS
'Queue every row of a bound table whose item differs from what Webflow has (initial load or repair), and the deletion of items whose row is gone; returns the number of changes queued';
REVOKE EXECUTE ON FUNCTION @extschema@.sync(regclass) FROM PUBLIC;

CREATE FUNCTION @extschema@.retry(failed_only boolean DEFAULT true)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    UPDATE @extschema@.outbox
    SET state = 'pending', attempts = 0, next_attempt_at = now()
    WHERE state = 'failed'
       OR (NOT coalesce(failed_only, true) AND state = 'pending' AND next_attempt_at > now());
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM @extschema@.wake();
    RETURN n;
END
$$;
COMMENT ON FUNCTION @extschema@.retry(boolean) IS
'Queue failed changes again (and, with failed_only => false, send changes waiting for a retry now); returns the number of rows requeued';
REVOKE EXECUTE ON FUNCTION @extschema@.retry(boolean) FROM PUBLIC;

CREATE FUNCTION @extschema@.drain(max_rows integer DEFAULT NULL)
RETURNS integer
LANGUAGE C VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'webflow_drain';
COMMENT ON FUNCTION @extschema@.drain(integer) IS
'Publish due outbox rows from this session, as the worker does (for pg_cron, or where no worker runs); returns the number of rows completed';
REVOKE EXECUTE ON FUNCTION @extschema@.drain(integer) FROM PUBLIC;

CREATE FUNCTION @extschema@.worker_status()
RETURNS jsonb
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'webflow_worker_status';
COMMENT ON FUNCTION @extschema@.worker_status() IS
'The background worker and the shared rate limiter: pid, state, problem, counters, pause and why';

CREATE VIEW @extschema@.status AS
SELECT b.id AS binding_id,
       b.source,
       b.collection_id,
       coalesce(o.pending, 0) AS pending,
       coalesce(o.sending, 0) AS sending,
       coalesce(o.failed, 0) AS failed,
       o.oldest_pending_age,
       b.last_success,
       b.last_error,
       b.last_error_at,
       w.paused_because
FROM @extschema@.bindings b
LEFT JOIN (SELECT binding_id,
                  count(*) FILTER (WHERE state = 'pending') AS pending,
                  count(*) FILTER (WHERE state = 'sending') AS sending,
                  count(*) FILTER (WHERE state = 'failed') AS failed,
                  now() - min(enqueued_at) FILTER (WHERE state = 'pending') AS oldest_pending_age
           FROM @extschema@.outbox GROUP BY binding_id) o ON o.binding_id = b.id
CROSS JOIN LATERAL (SELECT @extschema@.worker_status()->>'pausedBecause' AS paused_because) w;
COMMENT ON VIEW @extschema@.status IS
'Per binding: changes pending, sending and failed, the age of the oldest pending one, last success, last error, and why sending is paused';
REVOKE ALL ON @extschema@.status FROM PUBLIC;

-- a dropped table takes its bindings and queued changes with it
CREATE FUNCTION @extschema@._drop_bindings()
RETURNS event_trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    DELETE FROM @extschema@.outbox o USING @extschema@.bindings b, pg_event_trigger_dropped_objects() d
    WHERE o.binding_id = b.id AND d.classid = 'pg_class'::regclass AND d.objid = b.source::oid;
    DELETE FROM @extschema@.bindings b USING pg_event_trigger_dropped_objects() d
    WHERE d.classid = 'pg_class'::regclass AND d.objid = b.source::oid;
END
$$;
COMMENT ON FUNCTION @extschema@._drop_bindings() IS
'Private: event trigger that forgets the bindings of dropped tables';
REVOKE EXECUTE ON FUNCTION @extschema@._drop_bindings() FROM PUBLIC;
CREATE EVENT TRIGGER webflow_drop_bindings ON sql_drop
    EXECUTE FUNCTION @extschema@._drop_bindings();

-- end of publishing

-- a worker that started before the extension existed starts draining now
SELECT @extschema@.wake();
