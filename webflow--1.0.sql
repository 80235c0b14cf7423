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
                                              skip_invalid_files boolean DEFAULT true)
RETURNS SETOF jsonb
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'webflow_create_live_items';
COMMENT ON FUNCTION @extschema@.create_live_items(text, jsonb, boolean) IS
'Webflow Create Live Items: create and publish one item or an array of any length (sent 100 at a time); returns the created items';

CREATE FUNCTION @extschema@.update_live_items(collection_id text, items jsonb,
                                              skip_invalid_files boolean DEFAULT true)
RETURNS SETOF jsonb
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'webflow_update_live_items';
COMMENT ON FUNCTION @extschema@.update_live_items(text, jsonb, boolean) IS
'Webflow Update Live Items: update published items (each with its "id"), 100 at a time; returns the updated items';

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
                                         skip_invalid_files boolean DEFAULT true)
RETURNS SETOF jsonb
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'webflow_create_items';
COMMENT ON FUNCTION @extschema@.create_items(text, jsonb, boolean) IS
'Webflow Create Items: create staged items (drafts unless isDraft is false), 100 at a time; returns the created items';

CREATE FUNCTION @extschema@.update_items(collection_id text, items jsonb,
                                         skip_invalid_files boolean DEFAULT true)
RETURNS SETOF jsonb
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'webflow_update_items';
COMMENT ON FUNCTION @extschema@.update_items(text, jsonb, boolean) IS
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
    @extschema@.create_live_items(text, jsonb, boolean),
    @extschema@.update_live_items(text, jsonb, boolean),
    @extschema@.unpublish_live_items(text, text[]),
    @extschema@.list_items(text, jsonb),
    @extschema@.get_item(text, text),
    @extschema@.create_items(text, jsonb, boolean),
    @extschema@.update_items(text, jsonb, boolean),
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
