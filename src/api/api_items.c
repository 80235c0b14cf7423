/*-------------------------------------------------------------------------
 *
 * api_items.c
 *		SQL functions for the Webflow CMS item endpoints, live and staged:
 *		list (following pagination), get, create and update (in chunks of at
 *		most 100), unpublish, delete and publish.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"

#include "api.h"
#include "api_args.h"
#include "compat.h"
#include "jsonb_util.h"
#include "payload.h"
#include "payload_plan.h"
#include "value_parse.h"
#include "webflow.h"

PG_FUNCTION_INFO_V1(webflow_list_live_items);
PG_FUNCTION_INFO_V1(webflow_get_live_item);
PG_FUNCTION_INFO_V1(webflow_create_live_items);
PG_FUNCTION_INFO_V1(webflow_update_live_items);
PG_FUNCTION_INFO_V1(webflow_unpublish_live_items);
PG_FUNCTION_INFO_V1(webflow_list_items);
PG_FUNCTION_INFO_V1(webflow_get_item);
PG_FUNCTION_INFO_V1(webflow_create_items);
PG_FUNCTION_INFO_V1(webflow_update_items);
PG_FUNCTION_INFO_V1(webflow_delete_items);
PG_FUNCTION_INFO_V1(webflow_publish_items);

static char *list_filter_query(Jsonb *filter);
static void list_items(FunctionCallInfo fcinfo, const char *operation,
					   const char *suffix);
static Datum get_item(FunctionCallInfo fcinfo, const char *operation,
					  const char *suffix);
static void send_items(FunctionCallInfo fcinfo, const char *operation,
					   const char *method, const char *suffix,
					   WebflowItemsCheck check);
static Jsonb *rows_to_items(const char *collection, Jsonb *rows,
							 Jsonb *options, bool update);
static void push_with_id(JsonbParseState **st, const char *id, Jsonb *item);
static ArrayType *ids_arg(FunctionCallInfo fcinfo, int argno,
						  const char *argname);

/*
 * list_filter_query turns the filter argument of the list functions into a
 * query string, refusing parameters the API does not know.
 */
static char *
list_filter_query(Jsonb *filter)
{
	static const char *const keys[] = {
		"name", "slug", "sortBy", "sortOrder", "cmsLocaleId",
		"lastUpdated", "lastPublished", "createdOn", NULL
	};
	StringInfoData query;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			depth = 0;
	char	   *key = NULL;

	initStringInfo(&query);
	if (filter == NULL)
		return query.data;
	if (!JB_ROOT_IS_OBJECT(filter))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("filter must be a JSON object"),
				 errhint("For example '{\"slug\": \"my-item\"}' or '{\"lastUpdated\": {\"gte\": \"2024-01-01T00:00:00Z\"}}'.")));

	it = JsonbIteratorInit(&filter->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_BEGIN_OBJECT)
			depth++;
		else if (tok == WJB_END_OBJECT)
			depth--;
		else if (tok == WJB_KEY && depth == 1)
		{
			int			i;

			key = pnstrdup(v.val.string.val, v.val.string.len);
			for (i = 0; keys[i] != NULL; i++)
				if (strcmp(key, keys[i]) == 0)
					break;
			if (keys[i] == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("unknown filter \"%s\"", key),
						 errdetail("Filters are name, slug, sortBy, sortOrder, cmsLocaleId, lastUpdated, lastPublished and createdOn."),
						 errhint("Pagination is followed to the end; use SQL LIMIT and OFFSET to cut the result.")));
		}
		else if (tok == WJB_VALUE && depth == 1)
		{
			bool		is_range = strcmp(key, "lastUpdated") == 0 ||
				strcmp(key, "lastPublished") == 0 ||
				strcmp(key, "createdOn") == 0;

			if (is_range)
			{
				JsonbValue *gte;
				JsonbValue *lte;
				int			n;

				if (!webflow_jsonb_is_object(&v))
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("filter \"%s\" must be an object with \"gte\" and/or \"lte\"", key),
							 errhint("For example {\"%s\": {\"gte\": \"2024-01-01T00:00:00Z\"}}.", key)));
				gte = webflow_jsonb_container_get(v.val.binary.data, "gte");
				lte = webflow_jsonb_container_get(v.val.binary.data, "lte");
				n = JsonContainerSize(v.val.binary.data);
				if (n != (gte != NULL) + (lte != NULL) || n == 0 ||
					(gte && gte->type != jbvString) ||
					(lte && lte->type != jbvString))
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("filter \"%s\" must be an object with \"gte\" and/or \"lte\" timestamps as strings", key)));
				if (gte)
					webflow_query_add(&query, psprintf("%s[gte]", key),
									  webflow_jsonb_string(gte));
				if (lte)
					webflow_query_add(&query, psprintf("%s[lte]", key),
									  webflow_jsonb_string(lte));
				continue;
			}
			if (v.type != jbvString)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("filter \"%s\" must be a string, not %s", key,
								webflow_jsonb_type_name(&v))));
			if (strcmp(key, "sortBy") == 0)
			{
				char	   *s = webflow_jsonb_string(&v);

				if (strcmp(s, "createdOn") != 0 && strcmp(s, "lastPublished") != 0 &&
					strcmp(s, "lastUpdated") != 0 && strcmp(s, "name") != 0 &&
					strcmp(s, "slug") != 0)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("filter sortBy \"%s\" is not one of createdOn, lastPublished, lastUpdated, name, slug", s)));
			}
			if (strcmp(key, "sortOrder") == 0)
			{
				char	   *s = webflow_jsonb_string(&v);

				if (strcmp(s, "asc") != 0 && strcmp(s, "desc") != 0)
					ereport(ERROR,
							(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
							 errmsg("filter sortOrder \"%s\" is not asc or desc", s)));
			}
			webflow_query_add(&query, key, webflow_jsonb_string(&v));
		}
	}
	return query.data;
}

/* list_items returns every item of a collection (live or staged). */
static void
list_items(FunctionCallInfo fcinfo, const char *operation, const char *suffix)
{
	char	   *collection = webflow_id_arg(fcinfo, 0, "collection_id");
	Jsonb	   *filter = PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1);

	webflow_return_list(fcinfo, operation,
						psprintf("/collections/%s/items%s", collection, suffix),
						list_filter_query(filter), "items", true);
}

/* get_item returns one item (live or staged). */
static Datum
get_item(FunctionCallInfo fcinfo, const char *operation, const char *suffix)
{
	char	   *collection = webflow_id_arg(fcinfo, 0, "collection_id");
	char	   *item = webflow_id_arg(fcinfo, 1, "item_id");

	WEBFLOW_RETURN_JSONB(webflow_call(operation, "GET",
									  psprintf("/collections/%s/items/%s%s",
											   collection, item, suffix),
									  NULL, NULL));
}

/*
 * rows_to_items turns table rows (to_jsonb(t), one or an array) into items
 * with webflow.item_payload and the given options; the collection's schema
 * is used unless the options name another.  For updates each row carries
 * the Webflow item id in "id", which is not part of the payload, and the
 * item keeps its slug unless the row has a "slug".
 */
static Jsonb *
rows_to_items(const char *collection, Jsonb *rows, Jsonb *options, bool update)
{
	WebflowPayloadState *state;
	JsonbValue	root;
	JsonbParseState *out = NULL;
	int			n;
	int			i;
	bool		single;

	if (!JB_ROOT_IS_OBJECT(options))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("options must be a JSON object"),
				 errhint("Pass the options of webflow.item_payload, for example '{\"exclude\": [\"id\"]}'.")));
	if (webflow_jsonb_get(options, "collection") == NULL)
	{
		JsonbParseState *st = NULL;

		pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
		webflow_jsonb_put_string(&st, "collection", collection);
		options = DatumGetJsonbP(DirectFunctionCall2(jsonb_concat,
													 JsonbPGetDatum(options),
													 JsonbPGetDatum(webflow_jsonb_finish(&st, false))));
	}
	state = webflow_payload_prepare(options, CurrentMemoryContext);

	webflow_jsonb_root(rows, &root);
	single = webflow_jsonb_is_object(&root);
	n = single ? 1 : webflow_jsonb_array_size(&root);
	if (n < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("rows must be a JSON object or array, not %s",
						webflow_jsonb_type_name(&root))));
	pushJsonbValue(&out, WJB_BEGIN_ARRAY, NULL);
	for (i = 0; i < n; i++)
	{
		JsonbValue *row = single ? &root : webflow_jsonb_array_element(&root, i);
		Jsonb	   *rowjb;
		Jsonb	   *item;
		JsonbValue	item_root;
		char	   *id = NULL;

		if (!webflow_jsonb_is_object(row))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("row %d is a JSON %s, not an object", i + 1,
							webflow_jsonb_type_name(row))));
		rowjb = webflow_jsonb_from_value(row);
		if (update)
		{
			id = webflow_jsonb_string(webflow_jsonb_get(rowjb, "id"));
			if (id == NULL || !webflow_is_object_id(id))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("row %d has no Webflow item id in \"id\"", i + 1),
						 errhint("To update items from rows, put the item id in \"id\", e.g. to_jsonb(t) || jsonb_build_object('id', i.item_id).")));
			rowjb = DatumGetJsonbP(DirectFunctionCall2(jsonb_delete,
													   JsonbPGetDatum(rowjb),
													   CStringGetTextDatum("id")));
		}
		item = webflow_payload_build(state, rowjb);
		if (update && webflow_jsonb_get(rowjb, "slug") == NULL)
		{
			/* keep the item's slug: Webflow refuses even an unchanged one */
			Datum		path[2] = {CStringGetTextDatum("fieldData"),
			CStringGetTextDatum("slug")};

			item = DatumGetJsonbP(DirectFunctionCall2(jsonb_delete_path,
													  JsonbPGetDatum(item),
													  PointerGetDatum(construct_array(path, 2, TEXTOID, -1, false, TYPALIGN_INT))));
		}
		if (update)
			push_with_id(&out, id, item);
		else
			webflow_jsonb_put_value(&out, NULL, webflow_jsonb_root(item, &item_root));
	}
	return webflow_jsonb_finish(&out, true);
}

/* push_with_id pushes an item with its id: {"id": id, ...the payload's members}. */
static void
push_with_id(JsonbParseState **st, const char *id, Jsonb *item)
{
	JsonbIterator *it = JsonbIteratorInit(&item->root);
	JsonbValue	v;
	JsonbIteratorToken tok;

	pushJsonbValue(st, WJB_BEGIN_OBJECT, NULL);
	webflow_jsonb_put_string(st, "id", id);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		if (tok == WJB_KEY || tok == WJB_VALUE)
			pushJsonbValue(st, tok, &v);
	pushJsonbValue(st, WJB_END_OBJECT, NULL);
}

/*
 * send_items creates or updates items (argument 1) in chunks and returns
 * what Webflow returns; argument 2 is skip_invalid_files and argument 3,
 * when given, the item_payload options that turn rows into items.
 */
static void
send_items(FunctionCallInfo fcinfo, const char *operation, const char *method,
		   const char *suffix, WebflowItemsCheck check)
{
	char	   *collection = webflow_id_arg(fcinfo, 0, "collection_id");
	Jsonb	   *items;
	StringInfoData query;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("items must not be NULL")));
	items = PG_GETARG_JSONB_P(1);
	if (PG_NARGS() > 3 && !PG_ARGISNULL(3))
		items = rows_to_items(collection, items, PG_GETARG_JSONB_P(3),
							  check == WEBFLOW_ITEMS_UPDATE);
	initStringInfo(&query);
	if (!PG_ARGISNULL(2))
		webflow_query_add(&query, "skipInvalidFiles",
						  PG_GETARG_BOOL(2) ? "true" : "false");
	webflow_return_item_chunks(fcinfo, operation, method,
							   psprintf("/collections/%s/items%s", collection, suffix),
							   query.data, items, check);
}

/* ids_arg returns a text[] argument of item ids, refusing NULL. */
static ArrayType *
ids_arg(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", argname)));
	return PG_GETARG_ARRAYTYPE_P(argno);
}

/* webflow.list_live_items(collection_id, filter) lists published items. */
Datum
webflow_list_live_items(PG_FUNCTION_ARGS)
{
	list_items(fcinfo, "List Live Items", "/live");
	return (Datum) 0;
}

/* webflow.get_live_item(collection_id, item_id) returns a published item. */
Datum
webflow_get_live_item(PG_FUNCTION_ARGS)
{
	return get_item(fcinfo, "Get Live Item", "/live");
}

/* webflow.create_live_items(collection_id, items, skip_invalid_files). */
Datum
webflow_create_live_items(PG_FUNCTION_ARGS)
{
	send_items(fcinfo, "Create Live Items", "POST", "/live", WEBFLOW_ITEMS_CREATE);
	return (Datum) 0;
}

/* webflow.update_live_items(collection_id, items, skip_invalid_files). */
Datum
webflow_update_live_items(PG_FUNCTION_ARGS)
{
	send_items(fcinfo, "Update Live Items", "PATCH", "/live", WEBFLOW_ITEMS_UPDATE);
	return (Datum) 0;
}

/*
 * webflow.unpublish_live_items(collection_id, item_ids) takes items off the
 * live site and returns how many ids were sent.
 */
Datum
webflow_unpublish_live_items(PG_FUNCTION_ARGS)
{
	char	   *collection = webflow_id_arg(fcinfo, 0, "collection_id");
	ArrayType  *ids = ids_arg(fcinfo, 1, "item_ids");

	PG_RETURN_INT32((int32) webflow_send_id_chunks("Unpublish Live Items", "DELETE",
												   psprintf("/collections/%s/items/live", collection),
												   ids, "item_ids", false, NULL));
}

/* webflow.list_items(collection_id, filter) lists staged items. */
Datum
webflow_list_items(PG_FUNCTION_ARGS)
{
	list_items(fcinfo, "List Items", "");
	return (Datum) 0;
}

/* webflow.get_item(collection_id, item_id) returns a staged item. */
Datum
webflow_get_item(PG_FUNCTION_ARGS)
{
	return get_item(fcinfo, "Get Item", "");
}

/* webflow.create_items(collection_id, items, skip_invalid_files). */
Datum
webflow_create_items(PG_FUNCTION_ARGS)
{
	send_items(fcinfo, "Create Items", "POST", "", WEBFLOW_ITEMS_CREATE);
	return (Datum) 0;
}

/* webflow.update_items(collection_id, items, skip_invalid_files). */
Datum
webflow_update_items(PG_FUNCTION_ARGS)
{
	send_items(fcinfo, "Update Items", "PATCH", "", WEBFLOW_ITEMS_UPDATE);
	return (Datum) 0;
}

/*
 * webflow.delete_items(collection_id, item_ids) deletes staged items and
 * returns how many ids were sent.
 */
Datum
webflow_delete_items(PG_FUNCTION_ARGS)
{
	char	   *collection = webflow_id_arg(fcinfo, 0, "collection_id");
	ArrayType  *ids = ids_arg(fcinfo, 1, "item_ids");

	PG_RETURN_INT32((int32) webflow_send_id_chunks("Delete Items", "DELETE",
												   psprintf("/collections/%s/items", collection),
												   ids, "item_ids", false, NULL));
}

/*
 * webflow.publish_items(collection_id, item_ids) publishes staged items and
 * returns {"publishedItemIds": [...], "errors": [...]} over all chunks.
 */
Datum
webflow_publish_items(PG_FUNCTION_ARGS)
{
	char	   *collection = webflow_id_arg(fcinfo, 0, "collection_id");
	ArrayType  *ids = ids_arg(fcinfo, 1, "item_ids");
	List	   *responses = NIL;
	ListCell   *lc;
	JsonbParseState *st = NULL;
	const char *names[2] = {"publishedItemIds", "errors"};

	webflow_send_id_chunks("Publish Items", "POST",
						   psprintf("/collections/%s/items/publish", collection),
						   ids, "item_ids", true, &responses);

	/* both lists, each gathered over every chunk's response */
	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	for (int k = 0; k < 2; k++)
	{
		webflow_jsonb_put_key(&st, names[k]);
		pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
		foreach(lc, responses)
		{
			JsonbValue *list = webflow_jsonb_get((Jsonb *) lfirst(lc), names[k]);
			int			n = webflow_jsonb_array_size(list);

			for (int i = 0; i < n; i++)
				webflow_jsonb_put_value(&st, NULL, webflow_jsonb_array_element(list, i));
		}
		pushJsonbValue(&st, WJB_END_ARRAY, NULL);
	}
	PG_RETURN_JSONB_P(webflow_jsonb_finish(&st, false));
}
