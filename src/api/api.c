/*-------------------------------------------------------------------------
 *
 * api.c
 *		The machinery shared by every SQL function that calls the Webflow
 *		API: one call turned into a result (or an error), pagination
 *		followed to the end, items sent in chunks of at most 100.
 *
 * Argument checks are in api_args.c, error reporting in api_errors.c, the
 * endpoint functions themselves in api_sites.c and api_items.c.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/json.h"
#include "utils/numeric.h"
#include "mb/pg_wchar.h"

#include "api.h"
#include "api_args.h"
#include "api_errors.h"
#include "compat.h"
#include "http.h"
#include "jsonb_util.h"
#include "value_parse.h"
#include "webflow.h"

/* state of the error context callback of a chunked request */
typedef struct ChunkContext
{
	const char *noun;
	int			first;
	int			last;
	int			total;
} ChunkContext;

static void chunk_error_context(void *arg);
static void check_item(JsonbValue *item, int index, WebflowItemsCheck check);
static void emit_items(Tuplestorestate *store, TupleDesc desc, Jsonb *response);
static void put_jsonb(Tuplestorestate *store, TupleDesc desc, Jsonb *value);

/*
 * webflow_call sends one request and returns the parsed JSON response, or
 * NULL for an empty 2xx response (204).  Anything else raises an error.
 * path is escaped already; query (without "?") may be NULL.
 */
Jsonb *
webflow_call(const char *operation, const char *method, const char *path,
			 const char *query, const char *body)
{
	WebflowHttpResult result;
	char	   *target;
	Jsonb	   *parsed;

	if (query != NULL && query[0] != '\0')
		target = psprintf("%s?%s", path, query);
	else
		target = pstrdup(path);

	webflow_http_send(method, target, body, &result);
	if (result.outcome != WEBFLOW_HTTP_RESPONSE ||
		result.status < 200 || result.status > 299)
		webflow_report_failure(operation, &result);

	if (result.body_len == 0)
		return NULL;
	parsed = webflow_jsonb_try_parse(result.body);
	if (parsed == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_WEBFLOW_BAD_RESPONSE),
				 errmsg("Webflow %s returned a response that is not JSON (HTTP %ld)",
						operation, result.status),
				 errdetail_internal("Response body: %s", webflow_excerpt(result.body)),
				 errhint("Check that webflow.api_url points at the Webflow Data API v2.")));
	return parsed;
}

/* put_jsonb adds one jsonb row to a materialized result. */
static void
put_jsonb(Tuplestorestate *store, TupleDesc desc, Jsonb *value)
{
	Datum		values[1];
	bool		nulls[1] = {false};

	values[0] = JsonbPGetDatum(value);
	tuplestore_putvalues(store, desc, values, nulls);
}

/*
 * webflow_return_list returns every element of response key list_key as a
 * row, following offset/limit pagination to the end when paginated.
 */
void
webflow_return_list(FunctionCallInfo fcinfo, const char *operation,
					const char *path, const char *query,
					const char *list_key, bool paginated)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext pagecontext;
	MemoryContext oldcontext;
	int64		offset = 0;
	bool		more = true;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	pagecontext = AllocSetContextCreate(CurrentMemoryContext,
										"webflow list page",
										ALLOCSET_DEFAULT_SIZES);
	while (more)
	{
		StringInfoData q;
		Jsonb	   *page;
		JsonbValue *list;
		JsonbValue *pagination;
		JsonbValue *total;
		int			n;
		int			i;

		CHECK_FOR_INTERRUPTS();
		oldcontext = MemoryContextSwitchTo(pagecontext);
		initStringInfo(&q);
		if (query != NULL)
			appendStringInfoString(&q, query);
		if (paginated)
		{
			webflow_query_add(&q, "offset", psprintf(INT64_FORMAT, offset));
			webflow_query_add(&q, "limit", "100");
		}
		page = webflow_call(operation, "GET", path, q.data, NULL);
		list = webflow_jsonb_get(page, list_key);
		n = webflow_jsonb_array_size(list);
		if (n < 0)
			ereport(ERROR,
					(errcode(ERRCODE_WEBFLOW_BAD_RESPONSE),
					 errmsg("Webflow %s returned no \"%s\" list", operation, list_key)));
		for (i = 0; i < n; i++)
			put_jsonb(rsinfo->setResult, rsinfo->setDesc,
					  webflow_jsonb_from_value(webflow_jsonb_array_element(list, i)));

		offset += n;
		more = false;
		pagination = webflow_jsonb_get(page, "pagination");
		total = pagination && webflow_jsonb_is_object(pagination) ?
			webflow_jsonb_container_get(pagination->val.binary.data, "total") : NULL;
		if (paginated && n > 0 && total != NULL && total->type == jbvNumeric)
		{
			int64		t = DatumGetInt64(DirectFunctionCall1(numeric_int8,
															  NumericGetDatum(total->val.numeric)));

			more = offset < t;
		}
		MemoryContextSwitchTo(oldcontext);
		MemoryContextReset(pagecontext);
	}
	MemoryContextDelete(pagecontext);
}

/* chunk_error_context tells which chunk of a bulk request failed. */
static void
chunk_error_context(void *arg)
{
	ChunkContext *ctx = (ChunkContext *) arg;

	if (ctx->first > 1)
		errcontext("sending %s %d to %d of %d (%s 1 to %d were sent already)",
				   ctx->noun, ctx->first, ctx->last, ctx->total,
				   ctx->noun, ctx->first - 1);
	else if (ctx->total > 1)
		errcontext("sending %s %d to %d of %d", ctx->noun, ctx->first,
				   ctx->last, ctx->total);
}

/*
 * check_item refuses an item that Webflow would reject for its shape,
 * before anything is sent.
 */
static void
check_item(JsonbValue *item, int index, WebflowItemsCheck check)
{
	JsonbValue *v;

	if (!webflow_jsonb_is_object(item))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("item %d is a JSON %s, not an object", index + 1,
						webflow_jsonb_type_name(item)),
				 errhint("items must be one item object or an array of item objects, such as webflow.item_payload() returns.")));
	if (check == WEBFLOW_ITEMS_CREATE)
	{
		v = webflow_jsonb_container_get(item->val.binary.data, "fieldData");
		if (!webflow_jsonb_is_object(v))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("item %d has no \"fieldData\" object", index + 1),
					 errhint("An item looks like {\"fieldData\": {\"name\": ..., \"slug\": ...}}; webflow.item_payload() builds one from a row.")));
	}
	else
	{
		char	   *id;

		v = webflow_jsonb_container_get(item->val.binary.data, "id");
		id = webflow_jsonb_string(v);
		if (id == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("item %d has no \"id\"", index + 1),
					 errhint("Each item to update needs the Webflow item id in \"id\".")));
		if (!webflow_is_object_id(id))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("item %d: id \"%s\" is not a Webflow id", index + 1,
							webflow_excerpt(id)),
					 errdetail("Webflow ids are 24 lowercase hexadecimal characters.")));
	}
}

/*
 * emit_items returns the items of a create or update response as rows; the
 * response is either {"items": [...]} or one item.
 */
static void
emit_items(Tuplestorestate *store, TupleDesc desc, Jsonb *response)
{
	JsonbValue *list;
	int			n;
	int			i;

	if (response == NULL)
		return;
	list = webflow_jsonb_get(response, "items");
	n = webflow_jsonb_array_size(list);
	if (n < 0)
	{
		if (JB_ROOT_IS_OBJECT(response))
			put_jsonb(store, desc, response);
		return;
	}
	for (i = 0; i < n; i++)
		put_jsonb(store, desc,
				  webflow_jsonb_from_value(webflow_jsonb_array_element(list, i)));
}

/*
 * webflow_return_item_chunks sends items (one object, or an array of any
 * length in chunks of at most 100) and returns every item Webflow returns.
 * All items are checked before the first request.
 */
void
webflow_return_item_chunks(FunctionCallInfo fcinfo, const char *operation,
						   const char *method, const char *path,
						   const char *query, Jsonb *items,
						   WebflowItemsCheck check)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	JsonbValue	root;
	int			n;
	int			i;
	int			start;
	ChunkContext cctx;
	ErrorContextCallback errcb;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	webflow_jsonb_root(items, &root);

	if (webflow_jsonb_is_object(&root))
	{
		check_item(&root, 0, check);
		if (check == WEBFLOW_ITEMS_CREATE)
			emit_items(rsinfo->setResult, rsinfo->setDesc,
					   webflow_call(operation, method, path, query,
									webflow_jsonb_value_text(&root)));
		else
			emit_items(rsinfo->setResult, rsinfo->setDesc,
					   webflow_call(operation, method, path, query,
									psprintf("{\"items\": [%s]}",
											 webflow_jsonb_value_text(&root))));
		return;
	}

	n = webflow_jsonb_array_size(&root);
	if (n < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("items must be a JSON object or array, not %s",
						webflow_jsonb_type_name(&root)),
				 errhint("Pass one item object or an array of item objects, for example jsonb_agg(webflow.item_payload(to_jsonb(t))).")));
	for (i = 0; i < n; i++)
		check_item(webflow_jsonb_array_element(&root, i), i, check);

	cctx.noun = "items";
	cctx.total = n;
	errcb.callback = chunk_error_context;
	errcb.arg = &cctx;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	for (start = 0; start < n; start += WEBFLOW_MAX_BATCH)
	{
		int			end = Min(n, start + WEBFLOW_MAX_BATCH);
		JsonbParseState *st = NULL;
		char	   *body;

		CHECK_FOR_INTERRUPTS();
		webflow_body_begin(&st, "items");
		for (i = start; i < end; i++)
			webflow_jsonb_put_value(&st, NULL, webflow_jsonb_array_element(&root, i));
		body = webflow_body_end(&st);
		cctx.first = start + 1;
		cctx.last = end;
		emit_items(rsinfo->setResult, rsinfo->setDesc,
				   webflow_call(operation, method, path, query, body));
		pfree(body);
	}
	error_context_stack = errcb.previous;
}

/*
 * webflow_send_id_chunks sends item ids in chunks of at most 100, as
 * {"items": [{"id": ...}]} or, when as_item_ids, {"itemIds": [...]}.
 * It returns the number of ids sent and appends each response to
 * *responses.
 */
int64
webflow_send_id_chunks(const char *operation, const char *method,
					   const char *path, ArrayType *ids, const char *argname,
					   bool as_item_ids, List **responses)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;
	int			start;
	ChunkContext cctx;
	ErrorContextCallback errcb;

	if (ARR_NDIM(ids) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("%s must be a one-dimensional array", argname)));
	deconstruct_array(ids, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (i = 0; i < n; i++)
	{
		char	   *id;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not contain NULL (element %d)", argname, i + 1)));
		id = TextDatumGetCString(elems[i]);
		if (!webflow_is_object_id(id))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s element %d \"%s\" is not a Webflow id", argname,
							i + 1, webflow_excerpt(id)),
					 errdetail("Webflow ids are 24 lowercase hexadecimal characters.")));
	}

	cctx.noun = "ids";
	cctx.total = n;
	errcb.callback = chunk_error_context;
	errcb.arg = &cctx;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;
	for (start = 0; start < n; start += WEBFLOW_MAX_BATCH)
	{
		int			end = Min(n, start + WEBFLOW_MAX_BATCH);
		JsonbParseState *st = NULL;
		char	   *body;
		Jsonb	   *response;

		CHECK_FOR_INTERRUPTS();
		webflow_body_begin(&st, as_item_ids ? "itemIds" : "items");
		for (i = start; i < end; i++)
		{
			if (as_item_ids)
				webflow_jsonb_put_string(&st, NULL, TextDatumGetCString(elems[i]));
			else
				webflow_body_push_id(&st, TextDatumGetCString(elems[i]));
		}
		body = webflow_body_end(&st);
		cctx.first = start + 1;
		cctx.last = end;
		response = webflow_call(operation, method, path, NULL, body);
		if (responses != NULL && response != NULL)
			*responses = lappend(*responses, response);
		pfree(body);
	}
	error_context_stack = errcb.previous;
	return n;
}
