/*-------------------------------------------------------------------------
 *
 * schema_cache.c
 *		The field schemas of Webflow collections, cached in the table
 *		webflow.collection_fields and, parsed, in each backend.
 *
 * A schema that is not cached is fetched from Webflow by the function
 * api_schema.c sets here (webflow_schema_set_fetch), which stores it with
 * webflow_schema_store: the schema is shared by every role, so only a
 * session that may call the API fetches it.  item_payload reads a
 * collection's rows once per backend and keeps the parsed WebflowSchema in
 * a hash table keyed by collection id.  A statement-level trigger on the
 * table sends a relcache invalidation for it on every change, and our
 * relcache callback then drops the whole backend cache (at the next use,
 * never in the middle of a call), so a refresh in any session is seen by
 * every other at its commit.
 *
 * Every store of a collection's schema takes the collection's store lock
 * first, so that two stores never meet on the table's rows: a session
 * waits for another's, the pipeline's workers never do (a user's open
 * bind() that stored the schema would otherwise hold the worker, and with
 * it every role's publishing, until it ends).
 *
 * The table is readable by its owner only.  item_payload is for everyone,
 * so the reads here run with the table owner's rights (the extension
 * owner), in a security-restricted context with a search_path of
 * pg_catalog, as a SECURITY DEFINER function would: the statements are
 * fixed, so this exposes nothing but the rows they select.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/memutils.h"

#include "jsonb_util.h"
#include "run_as.h"
#include "schema_cache.h"
#include "sql_version.h"
#include "webflow.h"

PG_FUNCTION_INFO_V1(webflow_collection_fields_changed);

/* One collection in the backend cache. */
typedef struct SchemaEntry
{
	char		collection_id[WEBFLOW_ID_LEN + 1];	/* hash key */
	WebflowSchema *schema;
} SchemaEntry;

/* global state: the backend cache */
static HTAB *schema_hash = NULL;
static MemoryContext schema_cxt = NULL;
static bool schema_valid = false;
static uint64 schema_generation = 0;
static Oid	fields_relid = InvalidOid;
static bool callback_registered = false;
static WebflowSchemaFetch schema_fetch = NULL;

static void schema_invalidate(Datum arg, Oid relid);
static void ensure_cache(void);
static WebflowSchema *load_schema(const char *collection_id, bool new_snapshot);
static WebflowSchema *cache_enter(const char *collection_id,
								  WebflowSchema *schema);
static void run_sql(const char *sql, int nargs, Oid *argtypes, Datum *args,
					bool read_only, int expected);

/* schema_invalidate is the relcache callback: forget the cache. */
static void
schema_invalidate(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == fields_relid)
		schema_valid = false;
}

/*
 * ensure_cache empties the backend cache if it was invalidated since its
 * last use, and starts a new generation.
 */
static void
ensure_cache(void)
{
	HASHCTL		ctl;

	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(schema_invalidate, (Datum) 0);
		callback_registered = true;
	}
	if (schema_valid)
		return;
	if (schema_cxt == NULL)
		schema_cxt = AllocSetContextCreate(CacheMemoryContext,
										   "webflow collection schemas",
										   ALLOCSET_DEFAULT_SIZES);
	else
		MemoryContextReset(schema_cxt);
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = WEBFLOW_ID_LEN + 1;
	ctl.entrysize = sizeof(SchemaEntry);
	ctl.hcxt = schema_cxt;
	schema_hash = hash_create("webflow collection schemas", 16, &ctl,
							  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	fields_relid = webflow_extension_table("collection_fields");
	schema_generation++;
	schema_valid = true;
}

/*
 * webflow_schema_generation returns a number that changes whenever the
 * cached schemas may have changed; a WebflowSchema pointer stays valid
 * until then.
 */
uint64
webflow_schema_generation(void)
{
	ensure_cache();
	return schema_generation;
}

/*
 * load_schema reads a collection's fields from webflow.collection_fields
 * into the cache memory, or returns NULL when the table has none.
 * new_snapshot reads with a new snapshot, to see what this command wrote.
 */
static WebflowSchema *
load_schema(const char *collection_id, bool new_snapshot)
{
	WebflowRunAs ra;
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	WebflowSchema *schema = NULL;
	uint64		i;

	args[0] = CStringGetTextDatum(collection_id);
	SPI_connect();
	webflow_run_as_begin(&ra, webflow_relation_owner(fields_relid));
	run_sql("SELECT slug, type, is_required, is_editable, validations"
			" FROM webflow.collection_fields"
			" WHERE collection_id = $1 ORDER BY slug",
			1, argtypes, args, !new_snapshot, SPI_OK_SELECT);
	if (SPI_processed > 0)
	{
		MemoryContext old = MemoryContextSwitchTo(schema_cxt);
		TupleDesc	desc = SPI_tuptable->tupdesc;

		schema = palloc0(sizeof(WebflowSchema));
		strlcpy(schema->collection_id, collection_id, sizeof(schema->collection_id));
		schema->nfields = (int) SPI_processed;
		schema->fields = palloc0(sizeof(WebflowField) * SPI_processed);
		for (i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tuple = SPI_tuptable->vals[i];
			bool		required_null;
			bool		editable_null;
			bool		validations_null;
			Datum		required = SPI_getbinval(tuple, desc, 3, &required_null);
			Datum		editable = SPI_getbinval(tuple, desc, 4, &editable_null);
			Datum		validations = SPI_getbinval(tuple, desc, 5, &validations_null);

			webflow_field_init(&schema->fields[i],
							   SPI_getvalue(tuple, desc, 1),
							   SPI_getvalue(tuple, desc, 2),
							   !required_null && DatumGetBool(required),
							   editable_null || DatumGetBool(editable),
							   validations_null ? NULL : DatumGetJsonbP(validations));
		}
		MemoryContextSwitchTo(old);
	}
	webflow_run_as_end(&ra);
	SPI_finish();
	return schema;
}

/* cache_enter keeps a schema in the backend cache; returns it. */
static WebflowSchema *
cache_enter(const char *collection_id, WebflowSchema *schema)
{
	char		key[WEBFLOW_ID_LEN + 1];
	SchemaEntry *entry;
	bool		found;

	memset(key, 0, sizeof(key));
	strlcpy(key, collection_id, sizeof(key));
	entry = hash_search(schema_hash, key, HASH_ENTER, &found);
	entry->schema = schema;
	return schema;
}

/*
 * webflow_schema_set_fetch sets the function that fetches a schema that is
 * not cached from Webflow (api_schema.c's, set by _PG_init).
 */
void
webflow_schema_set_fetch(WebflowSchemaFetch fetch)
{
	schema_fetch = fetch;
}

/*
 * webflow_schema_get returns the field schema of a collection: from the
 * backend cache, else from webflow.collection_fields, else (when this
 * session may call the API) fetched from Webflow and stored there first.
 */
WebflowSchema *
webflow_schema_get(const char *collection_id)
{
	WebflowSchema *schema;

	schema = webflow_schema_cached(collection_id);
	if (schema != NULL)
		return schema;
	if (schema_fetch == NULL)
		elog(ERROR, "webflow: no function fetches collection schemas");
	schema_fetch(collection_id);
	schema = load_schema(collection_id, true);
	if (schema == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_WEBFLOW_BAD_RESPONSE),
				 errmsg("Webflow collection %s has no fields", collection_id)));
	/* a refresh may have invalidated the cache: the entry lives until reset */
	return cache_enter(collection_id, schema);
}

/*
 * webflow_schema_cached returns the field schema of a collection from the
 * backend cache or webflow.collection_fields, or NULL: it never asks
 * Webflow.
 */
WebflowSchema *
webflow_schema_cached(const char *collection_id)
{
	char		key[WEBFLOW_ID_LEN + 1];
	SchemaEntry *entry;
	WebflowSchema *schema;

	ensure_cache();
	memset(key, 0, sizeof(key));
	strlcpy(key, collection_id, sizeof(key));
	entry = hash_search(schema_hash, key, HASH_FIND, NULL);
	if (entry != NULL)
		return entry->schema;
	schema = load_schema(collection_id, false);
	if (schema == NULL)
		return NULL;
	return cache_enter(collection_id, schema);
}

/*
 * The store lock of a collection's schema: a transaction-level lock in the
 * advisory lock space, with a tag that SQL's pg_advisory_lock() cannot name
 * (it sets field4 to 1 or 2), so no role can take it to hold the worker.
 */
#define SCHEMA_LOCK_FIELD4 0x5753	/* "WS" */

/*
 * schema_store_lock takes the store lock of a collection's schema until the
 * transaction ends: a session waits for it, a background worker of the
 * pipeline fails at once (ERRCODE_LOCK_NOT_AVAILABLE) when another
 * transaction holds it.
 */
static void
schema_store_lock(const char *collection_id)
{
	LOCKTAG		tag;
	uint64		h = hash_bytes_extended((const unsigned char *) collection_id,
										strlen(collection_id), 0);

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) (h >> 32), (uint32) h,
						 SCHEMA_LOCK_FIELD4);
	if (LockAcquire(&tag, ExclusiveLock, false, IsBackgroundWorker) == LOCKACQUIRE_NOT_AVAIL)
		ereport(ERROR,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg("another transaction is storing the field schema of Webflow collection %s",
						collection_id),
				 errdetail("The worker does not wait for it: the collection's changes wait until it ends.")));
}

/*
 * webflow_schema_store replaces a collection's rows in
 * webflow.collection_fields with fields (the "fields" array of Get
 * Collection); returns the number of fields.
 */
int
webflow_schema_store(const char *collection_id, Jsonb *fields)
{
	WebflowRunAs ra;
	Oid			argtypes[2] = {TEXTOID, JSONBOID};
	Datum		args[2];
	int			n;

	args[0] = CStringGetTextDatum(collection_id);
	args[1] = JsonbPGetDatum(fields);
	schema_store_lock(collection_id);
	SPI_connect();
	webflow_run_as_begin(&ra, webflow_relation_owner(webflow_extension_table("collection_fields")));
	run_sql("DELETE FROM webflow.collection_fields"
			" WHERE collection_id = $1",
			1, argtypes, args, false, SPI_OK_DELETE);
	run_sql("INSERT INTO webflow.collection_fields"
			" (collection_id, field_id, slug, display_name, type,"
			"  is_required, is_editable, validations)"
			" SELECT $1, f->>'id', f->>'slug', f->>'displayName', f->>'type',"
			"  coalesce((f->>'isRequired')::boolean, false),"
			"  coalesce((f->>'isEditable')::boolean, true),"
			"  nullif(f->'validations', 'null')"
			" FROM jsonb_array_elements($2) AS f",
			2, argtypes, args, false, SPI_OK_INSERT);
	n = (int) SPI_processed;
	webflow_run_as_end(&ra);
	SPI_finish();
	return n;
}

/* run_sql runs one statement with SPI and checks its result code. */
static void
run_sql(const char *sql, int nargs, Oid *argtypes, Datum *args,
		bool read_only, int expected)
{
	int			ret = SPI_execute_with_args(sql, nargs, argtypes, args, NULL,
											read_only, 0);

	if (ret != expected)
		elog(ERROR, "webflow: \"%s\" failed: %s", sql,
			 SPI_result_code_string(ret));
}

/*
 * webflow_collection_fields_changed is the statement trigger on
 * webflow.collection_fields: every backend drops its cached schemas.
 */
Datum
webflow_collection_fields_changed(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("webflow._collection_fields_changed() must be called as a trigger")));
	CacheInvalidateRelcache(trigdata->tg_relation);
	return PointerGetDatum(NULL);
}
