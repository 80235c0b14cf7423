/*-------------------------------------------------------------------------
 *
 * schema_cache.c
 *		The field schemas of Webflow collections, cached in the table
 *		webflow.collection_fields and, parsed, in each backend; and lookups
 *		in the item map webflow.items.
 *
 * webflow.refresh_schema(collection_id) fetches a collection with Get
 * Collection and replaces its rows in webflow.collection_fields.
 * item_payload reads a collection's rows once per backend and keeps the
 * parsed WebflowSchema in a hash table keyed by collection id.  A
 * statement-level trigger on the table sends a relcache invalidation for
 * it on every change, and our relcache callback then drops the whole
 * backend cache (at the next use, never in the middle of a call), so a
 * refresh in any session is seen by every other at its commit.
 *
 * Both tables are readable by their owner only.  item_payload is for
 * everyone, so the reads here run with the table owner's rights (the
 * extension owner), in a security-restricted context with a search_path
 * of pg_catalog, as a SECURITY DEFINER function would: the statements are
 * fixed, so this exposes nothing but the rows they select.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "parser/parse_func.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#include "api.h"
#include "connection.h"
#include "jsonb_util.h"
#include "payload.h"
#include "run_as.h"
#include "sql_version.h"
#include "webflow.h"

PG_FUNCTION_INFO_V1(webflow_refresh_schema);
PG_FUNCTION_INFO_V1(webflow_collection_fields_changed);

/* One collection in the backend cache. */
typedef struct SchemaEntry
{
	char		collection_id[WEBFLOW_ID_LEN + 1];	/* hash key */
	WebflowSchema *schema;
} SchemaEntry;

/* Webflow's names of the field types. */
static const struct
{
	const char *name;
	WebflowFieldType type;
}			field_types[] =
{
	{"PlainText", WF_PLAIN_TEXT},
	{"RichText", WF_RICH_TEXT},
	{"Email", WF_EMAIL},
	{"Phone", WF_PHONE},
	{"Link", WF_LINK},
	{"VideoLink", WF_VIDEO_LINK},
	{"Number", WF_NUMBER},
	{"Switch", WF_SWITCH},
	{"DateTime", WF_DATETIME},
	{"Color", WF_COLOR},
	{"Option", WF_OPTION},
	{"Image", WF_IMAGE},
	{"File", WF_FILE},
	{"MultiImage", WF_MULTI_IMAGE},
	{"Reference", WF_REFERENCE},
	{"MultiReference", WF_MULTI_REFERENCE},
	{"User", WF_USER},
};

/* global state: the backend cache */
static HTAB *schema_hash = NULL;
static MemoryContext schema_cxt = NULL;
static bool schema_valid = false;
static uint64 schema_generation = 0;
static Oid	fields_relid = InvalidOid;
static bool callback_registered = false;
static Oid	reference_owner = InvalidOid;
static SPIPlanPtr item_lookup_plan = NULL;

static void schema_invalidate(Datum arg, Oid relid);
static void ensure_cache(void);
static Oid	extension_table(const char *name);
static void parse_validations(WebflowField *f, Jsonb *validations);
static WebflowSchema *load_schema(const char *collection_id, bool new_snapshot);
static const char *why_no_fetch(void);
static Jsonb *fetch_collection(const char *collection_id);
static int	refresh_schema(const char *collection_id);
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
	fields_relid = extension_table("collection_fields");
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

/* extension_table returns the oid of a table of the extension's schema. */
static Oid
extension_table(const char *name)
{
	Oid			relid = get_relname_relid(name, get_namespace_oid("webflow", false));

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table webflow.%s does not exist", name),
				 errhint("Update the extension with ALTER EXTENSION webflow UPDATE.")));
	return relid;
}

/* parse_validations reads the validations we enforce into a field. */
static void
parse_validations(WebflowField *f, Jsonb *validations)
{
	JsonbValue *v;
	int			i;
	int			n;

	if (validations == NULL || !JB_ROOT_IS_OBJECT(validations))
		return;
	v = webflow_jsonb_get(validations, "format");
	f->integer_only = (v != NULL && v->type == jbvString &&
					   strncmp(v->val.string.val, "integer", v->val.string.len) == 0 &&
					   v->val.string.len == 7);
	v = webflow_jsonb_get(validations, "allowNegative");
	f->no_negative = (v != NULL && v->type == jbvBool && !v->val.boolean);
	v = webflow_jsonb_get(validations, "allowZero");
	f->no_zero = (v != NULL && v->type == jbvBool && !v->val.boolean);
	v = webflow_jsonb_get(validations, "minValue");
	if (v != NULL && v->type == jbvNumeric)
		f->min_value = DatumGetNumeric(datumCopy(NumericGetDatum(v->val.numeric),
													  false, -1));
	v = webflow_jsonb_get(validations, "maxValue");
	if (v != NULL && v->type == jbvNumeric)
		f->max_value = DatumGetNumeric(datumCopy(NumericGetDatum(v->val.numeric),
													  false, -1));
	v = webflow_jsonb_get(validations, "maxLength");
	if (v != NULL && v->type == jbvNumeric)
	{
		/* a limit beyond what a string can reach is no limit */
		double		len = DatumGetFloat8(DirectFunctionCall1(numeric_float8,
															 NumericGetDatum(v->val.numeric)));

		f->max_length = (len >= 0 && len < (double) PG_INT32_MAX) ? (int) len : -1;
	}
	v = webflow_jsonb_get(validations, "singleLine");
	f->single_line = (v != NULL && v->type == jbvBool && v->val.boolean);
	f->ref_collection = webflow_jsonb_string(webflow_jsonb_get(validations, "collectionId"));
	v = webflow_jsonb_get(validations, "options");
	n = Max(webflow_jsonb_array_size(v), 0);
	f->options = palloc0(sizeof(WebflowOption) * (n + 1));
	f->noptions = 0;
	for (i = 0; i < n; i++)
	{
		JsonbValue *option = webflow_jsonb_array_element(v, i);
		char	   *name;
		char	   *id;

		if (!webflow_jsonb_is_object(option))
			continue;
		name = webflow_jsonb_string(webflow_jsonb_container_get(option->val.binary.data, "name"));
		id = webflow_jsonb_string(webflow_jsonb_container_get(option->val.binary.data, "id"));
		/* an option without a name or an id cannot be matched or sent */
		if (name == NULL || id == NULL)
			continue;
		f->options[f->noptions].name = name;
		f->options[f->noptions].id = id;
		f->noptions++;
	}
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

		schema = palloc0(sizeof(WebflowSchema));
		strlcpy(schema->collection_id, collection_id, sizeof(schema->collection_id));
		schema->nfields = (int) SPI_processed;
		schema->fields = palloc0(sizeof(WebflowField) * SPI_processed);
		for (i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tuple = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			WebflowField *f = &schema->fields[i];
			bool		isnull;
			Datum		d;
			int			t;

			f->slug = SPI_getvalue(tuple, desc, 1);
			f->type_name = SPI_getvalue(tuple, desc, 2);
			f->type = WF_OTHER;
			for (t = 0; t < lengthof(field_types); t++)
				if (strcmp(f->type_name, field_types[t].name) == 0)
					f->type = field_types[t].type;
			d = SPI_getbinval(tuple, desc, 3, &isnull);
			f->required = !isnull && DatumGetBool(d);
			d = SPI_getbinval(tuple, desc, 4, &isnull);
			f->editable = isnull || DatumGetBool(d);
			f->max_length = -1;
			d = SPI_getbinval(tuple, desc, 5, &isnull);
			parse_validations(f, isnull ? NULL : DatumGetJsonbP(d));
		}
		MemoryContextSwitchTo(old);
	}
	webflow_run_as_end(&ra);
	SPI_finish();
	return schema;
}

/*
 * why_no_fetch says why this session may not fetch a schema from Webflow
 * now, or returns NULL when it may.
 */
static const char *
why_no_fetch(void)
{
	Oid			argtypes[1] = {TEXTOID};
	Oid			fn;

	if (IsInParallelMode())
		return "It cannot be fetched from Webflow inside a parallel query.";
	if (RecoveryInProgress())
		return "It cannot be fetched from Webflow on a standby.";
	if (XactReadOnly)
		return "It cannot be fetched from Webflow in a read-only transaction.";
	fn = LookupFuncName(list_make2(makeString("webflow"),
								   makeString("refresh_schema")),
						1, argtypes, true);
	if (!OidIsValid(fn) ||
		!DatumGetBool(DirectFunctionCall2(has_function_privilege_id,
										  ObjectIdGetDatum(fn),
										  CStringGetTextDatum("EXECUTE"))))
		return "This role may not call the Webflow API (it lacks EXECUTE on webflow.refresh_schema).";
	return NULL;
}

/*
 * webflow_schema_get returns the field schema of a collection: from the
 * backend cache, else from webflow.collection_fields, else (when this
 * session may call the API) fetched from Webflow and stored there first.
 */
WebflowSchema *
webflow_schema_get(const char *collection_id)
{
	char		key[WEBFLOW_ID_LEN + 1];
	SchemaEntry *entry;
	WebflowSchema *schema;
	const char *reason;
	bool		found;

	schema = webflow_schema_cached(collection_id);
	if (schema != NULL)
		return schema;
	memset(key, 0, sizeof(key));
	strlcpy(key, collection_id, sizeof(key));
	reason = why_no_fetch();
	if (reason != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the field schema of Webflow collection %s is not cached",
						collection_id),
				 errdetail("webflow.collection_fields has no row for it.  %s",
						   reason),
				 errhint("Run SELECT webflow.refresh_schema('%s'); as a role allowed to call the Webflow API, then try again.",
						 collection_id)));
	refresh_schema(collection_id);
	schema = load_schema(collection_id, true);
	if (schema == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_WEBFLOW_BAD_RESPONSE),
				 errmsg("Webflow collection %s has no fields", collection_id)));
	/* a refresh may have invalidated the cache: the entry lives until reset */
	entry = hash_search(schema_hash, key, HASH_ENTER, &found);
	entry->schema = schema;
	return schema;
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
	bool		found;

	ensure_cache();
	memset(key, 0, sizeof(key));
	strlcpy(key, collection_id, sizeof(key));
	entry = hash_search(schema_hash, key, HASH_FIND, NULL);
	if (entry != NULL)
		return entry->schema;
	schema = load_schema(collection_id, false);
	if (schema == NULL)
		return NULL;
	entry = hash_search(schema_hash, key, HASH_ENTER, &found);
	entry->schema = schema;
	return schema;
}

/* webflow_schema_field finds a field by slug, or returns NULL. */
const WebflowField *
webflow_schema_field(const WebflowSchema *schema, const char *slug, int len)
{
	int			i;

	for (i = 0; i < schema->nfields; i++)
	{
		const WebflowField *f = &schema->fields[i];

		if (strncmp(f->slug, slug, len) == 0 && f->slug[len] == '\0')
			return f;
	}
	return NULL;
}

/*
 * fetch_collection reads a collection from Webflow over the default
 * connection, whatever the session's webflow.connection names: the schema
 * cache is shared, and every role's publishing trusts it.
 */
static Jsonb *
fetch_collection(const char *collection_id)
{
	bool		was = webflow_connection_force_default(true);
	Jsonb	   *volatile collection = NULL;

	PG_TRY();
	{
		collection = webflow_call("Get Collection", "GET",
								  psprintf("/collections/%s", collection_id),
								  NULL, NULL);
	}
	PG_FINALLY();
	{
		webflow_connection_force_default(was);
	}
	PG_END_TRY();
	return collection;
}

/*
 * refresh_schema fetches a collection from Webflow and replaces its rows
 * in webflow.collection_fields; returns the number of fields.
 */
static int
refresh_schema(const char *collection_id)
{
	Jsonb	   *collection;
	JsonbValue *fields;
	WebflowRunAs ra;
	Oid			argtypes[2] = {TEXTOID, JSONBOID};
	Datum		args[2];
	int			n;

	collection = fetch_collection(collection_id);
	fields = webflow_jsonb_get(collection, "fields");
	if (webflow_jsonb_array_size(fields) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_WEBFLOW_BAD_RESPONSE),
				 errmsg("Webflow Get Collection returned no \"fields\" array for collection %s",
						collection_id),
				 errhint("Check that webflow.api_url points at the Webflow Data API v2.")));

	args[0] = CStringGetTextDatum(collection_id);
	args[1] = JsonbPGetDatum(webflow_jsonb_from_value(fields));
	SPI_connect();
	webflow_run_as_begin(&ra, webflow_relation_owner(extension_table("collection_fields")));
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
 * webflow_refresh_schema is webflow.refresh_schema(collection_id): fetch
 * a collection's fields from Webflow into webflow.collection_fields.
 */
Datum
webflow_refresh_schema(PG_FUNCTION_ARGS)
{
	char	   *collection_id = webflow_id_arg(fcinfo, 0, "collection_id");

	PG_RETURN_INT32(refresh_schema(collection_id));
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

/*
 * webflow_set_reference_owner sets the role whose collections references
 * may name while a bound table's row becomes an item (InvalidOid: any, for
 * item_payload, which checks the caller's own rights); it returns the one
 * set before.
 */
Oid
webflow_set_reference_owner(Oid owner)
{
	Oid			old = reference_owner;

	reference_owner = owner;
	return old;
}

/*
 * check_reference_owner refuses a reference to a collection that belongs
 * to another role than the one set by webflow_set_reference_owner (its
 * item map is that role's: resolving keys there would tell which exist).
 * The caller has switched to the extension owner and connected to SPI.
 */
static void
check_reference_owner(const char *collection_id, Datum collection)
{
	Oid			argtypes[1] = {TEXTOID};
	bool		isnull;
	Oid			claimant;

	if (!OidIsValid(reference_owner) || !webflow_sql_has_collection_owners())
		return;
	run_sql("SELECT o.owner FROM webflow.collection_owners o"
			" JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) o.owner"
			" WHERE o.collection_id OPERATOR(pg_catalog.=) $1",
			1, argtypes, &collection, true, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return;
	claimant = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
											  SPI_tuptable->tupdesc, 1, &isnull));
	if (claimant != reference_owner && !has_privs_of_role(reference_owner, claimant))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("a row of a table of role %s may not reference items of collection %s",
						GetUserNameFromId(reference_owner, true), collection_id),
				 errdetail("Collection %s belongs to role %s.", collection_id,
						   GetUserNameFromId(claimant, true)),
				 errhint("Reference collections that the tables of role %s feed.",
						 GetUserNameFromId(reference_owner, true))));
}

/*
 * webflow_item_lookup returns the Webflow item id that webflow.items maps
 * a source row key to in a collection, or NULL.
 */
char *
webflow_item_lookup(const char *collection_id, const char *source_key)
{
	MemoryContext caller = CurrentMemoryContext;
	WebflowRunAs ra;
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		args[2];
	char	   *result = NULL;
	int			ret;
	Oid			items = extension_table("items");

	/* the item map is read as its owner, but only for those who may read it */
	if (pg_class_aclcheck(items, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to resolve a reference to source key \"%s\" of collection %s",
						source_key, collection_id),
				 errdetail("References are resolved through webflow.items, which the current role may not read."),
				 errhint("GRANT SELECT ON webflow.items to the role, or leave the reference out of the row.")));
	args[0] = CStringGetTextDatum(collection_id);
	args[1] = CStringGetTextDatum(source_key);
	SPI_connect();
	webflow_run_as_begin(&ra, webflow_relation_owner(items));
	check_reference_owner(collection_id, args[0]);
	if (item_lookup_plan == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare("SELECT item_id FROM webflow.items"
									   " WHERE collection_id = $1 AND source_key = $2",
									   2, argtypes);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s",
				 SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		item_lookup_plan = plan;
	}
	ret = SPI_execute_plan(item_lookup_plan, args, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "reading webflow.items failed: %s",
			 SPI_result_code_string(ret));
	if (SPI_processed > 0)
	{
		char	   *id = SPI_getvalue(SPI_tuptable->vals[0],
									  SPI_tuptable->tupdesc, 1);

		if (id != NULL)
			result = MemoryContextStrdup(caller, id);
	}
	webflow_run_as_end(&ra);
	SPI_finish();
	return result;
}
