/*-------------------------------------------------------------------------
 *
 * api_schema.c
 *		Fetching the field schema of a collection from Webflow (Get
 *		Collection) into webflow.collection_fields: for
 *		webflow.refresh_schema(collection_id), and for the schema cache
 *		(schema_cache.c) when a schema it needs is not cached.
 *
 * The schema cache is shared by every role, so schemas are fetched over
 * the default connection, and only by sessions that may call the API.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "parser/parse_func.h"
#include "utils/acl.h"
#include "utils/builtins.h"

#include "api.h"
#include "api_args.h"
#include "api_schema.h"
#include "connection.h"
#include "jsonb_util.h"
#include "schema_cache.h"
#include "webflow.h"

PG_FUNCTION_INFO_V1(webflow_refresh_schema);

static const char *why_no_fetch(void);
static Jsonb *fetch_collection(const char *collection_id);
static int	refresh_schema(const char *collection_id);

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

	collection = fetch_collection(collection_id);
	fields = webflow_jsonb_get(collection, "fields");
	if (webflow_jsonb_array_size(fields) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_WEBFLOW_BAD_RESPONSE),
				 errmsg("Webflow Get Collection returned no \"fields\" array for collection %s",
						collection_id),
				 errhint("Check that webflow.api_url points at the Webflow Data API v2.")));
	return webflow_schema_store(collection_id, webflow_jsonb_from_value(fields));
}

/*
 * webflow_schema_fetch fetches a collection's schema that is not cached
 * into webflow.collection_fields, when this session may call the API; the
 * schema cache's way to fetch (see webflow_schema_set_fetch).
 */
void
webflow_schema_fetch(const char *collection_id)
{
	const char *reason = why_no_fetch();

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
