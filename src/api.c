/*-------------------------------------------------------------------------
 *
 * api.c
 *		The machinery shared by every SQL function that calls the Webflow
 *		API: argument checks, escaping, turning a response into a result or
 *		into a precise error, following pagination and sending items in
 *		chunks of at most 100.
 *
 * The endpoint functions themselves live in api_sites.c and api_items.c.
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
#include "compat.h"
#include "http.h"
#include "jsonb_util.h"
#include "webflow.h"

/* How much of an unexpected response body an error shows. */
#define BODY_EXCERPT 300

/* state of the error context callback of a chunked request */
typedef struct ChunkContext
{
	const char *noun;
	int			first;
	int			last;
	int			total;
} ChunkContext;

static const char *status_reason(long status);
static char *body_excerpt(const char *body);
static char *find_scope(const char *text);
static void report_http_status(const char *operation, WebflowHttpResult *result);
static char *describe_response(WebflowHttpResult *result);
static void chunk_error_context(void *arg);
static void append_json_string(StringInfo buf, const char *s);
static void check_item(JsonbValue *item, int index, WebflowItemsCheck check);
static void emit_items(Tuplestorestate *store, TupleDesc desc, Jsonb *response);
static void put_jsonb(Tuplestorestate *store, TupleDesc desc, Jsonb *value);
static void append_query_value(StringInfo query, const char *name,
							   JsonbValue *v, const char *argname);

/* webflow_is_object_id says whether s looks like a Webflow object id. */
bool
webflow_is_object_id(const char *s)
{
	int			i;

	for (i = 0; s[i] != '\0'; i++)
	{
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	}
	return i == 24;
}

/*
 * webflow_text_arg returns text argument argno as a C string, refusing NULL
 * and the empty string.
 */
char *
webflow_text_arg(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	char	   *s;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", argname)));
	s = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	if (s[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must not be empty", argname)));
	return s;
}

/*
 * webflow_id_arg returns argument argno, which must be a Webflow object id
 * (24 lowercase hexadecimal characters).
 */
char *
webflow_id_arg(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	char	   *s = webflow_text_arg(fcinfo, argno, argname);

	if (!webflow_is_object_id(s))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s \"%s\" is not a Webflow id", argname,
						body_excerpt(s)),
				 errdetail("Webflow ids are 24 lowercase hexadecimal characters."),
				 errhint("Copy the id from the Webflow API, for example from webflow.list_sites() or webflow.list_collections(site_id).")));
	return s;
}

/* webflow_append_escaped appends s percent-encoded for a URL. */
void
webflow_append_escaped(StringInfo buf, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;

	for (p = (const unsigned char *) s; *p; p++)
	{
		if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~')
			appendStringInfoChar(buf, (char) *p);
		else
		{
			appendStringInfoChar(buf, '%');
			appendStringInfoChar(buf, hex[*p >> 4]);
			appendStringInfoChar(buf, hex[*p & 15]);
		}
	}
}

/* webflow_query_add appends name=value (value escaped) to a query string. */
void
webflow_query_add(StringInfo query, const char *name, const char *value)
{
	if (query->len > 0)
		appendStringInfoChar(query, '&');
	appendStringInfoString(query, name);
	appendStringInfoChar(query, '=');
	webflow_append_escaped(query, value);
}

/*
 * append_query_value adds one query parameter from a JSON value: scalars
 * as they are, arrays joined by commas.
 */
static void
append_query_value(StringInfo query, const char *name, JsonbValue *v,
				   const char *argname)
{
	JsonbValue	scalar;

	if (v->type == jbvBinary && JsonContainerIsScalar(v->val.binary.data))
	{
		JsonbExtractScalar(v->val.binary.data, &scalar);
		v = &scalar;
	}
	switch (v->type)
	{
		case jbvNull:
			return;
		case jbvString:
			webflow_query_add(query, name, webflow_jsonb_string(v));
			return;
		case jbvBool:
			webflow_query_add(query, name, v->val.boolean ? "true" : "false");
			return;
		case jbvNumeric:
			webflow_query_add(query, name,
							  DatumGetCString(DirectFunctionCall1(numeric_out,
																  NumericGetDatum(v->val.numeric))));
			return;
		default:
			break;
	}
	if (webflow_jsonb_array_size(v) >= 0)
	{
		StringInfoData joined;
		int			n = webflow_jsonb_array_size(v);
		int			i;

		initStringInfo(&joined);
		for (i = 0; i < n; i++)
		{
			JsonbValue *e = webflow_jsonb_array_element(v, i);
			char	   *s = e->type == jbvString ? webflow_jsonb_string(e) :
				(e->type == jbvNumeric || e->type == jbvBool) ?
				webflow_jsonb_value_text(e) : NULL;

			if (s == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("%s: parameter \"%s\" must be a scalar or an array of scalars",
								argname, name)));
			if (i > 0)
				appendStringInfoChar(&joined, ',');
			appendStringInfoString(&joined, s);
		}
		webflow_query_add(query, name, joined.data);
		return;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s: parameter \"%s\" must be a scalar, an array of scalars or an object of scalars",
					argname, name)));
}

/*
 * webflow_query_from_jsonb appends the members of a JSON object as query
 * parameters; a nested object becomes name[key]=value (deepObject style).
 */
void
webflow_query_from_jsonb(StringInfo query, Jsonb *params, const char *argname)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;
	int			depth = 0;

	if (params == NULL)
		return;
	if (!JB_ROOT_IS_OBJECT(params))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a JSON object", argname),
				 errhint("Pass parameters as an object, for example '{\"sortBy\": \"name\"}'.")));

	it = JsonbIteratorInit(&params->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_BEGIN_OBJECT)
			depth++;
		else if (tok == WJB_END_OBJECT)
			depth--;
		else if (tok == WJB_KEY && depth == 1)
			key = pnstrdup(v.val.string.val, v.val.string.len);
		else if (tok == WJB_VALUE && depth == 1)
		{
			if (webflow_jsonb_is_object(&v))
			{
				JsonbIterator *inner = JsonbIteratorInit(v.val.binary.data);
				JsonbValue	iv;
				JsonbIteratorToken itok;
				char	   *subkey = NULL;

				while ((itok = JsonbIteratorNext(&inner, &iv, true)) != WJB_DONE)
				{
					if (itok == WJB_KEY)
						subkey = pnstrdup(iv.val.string.val, iv.val.string.len);
					else if (itok == WJB_VALUE)
					{
						if (iv.type == jbvBinary)
							ereport(ERROR,
									(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
									 errmsg("%s: parameter \"%s.%s\" must be a scalar",
											argname, key, subkey)));
						append_query_value(query,
										   psprintf("%s[%s]", key, subkey),
										   &iv, argname);
					}
				}
			}
			else
				append_query_value(query, key, &v, argname);
		}
	}
}

/* status_reason names an HTTP status for messages. */
static const char *
status_reason(long status)
{
	switch (status)
	{
		case 400:
			return "Bad Request";
		case 401:
			return "Unauthorized";
		case 403:
			return "Forbidden";
		case 404:
			return "Not Found";
		case 405:
			return "Method Not Allowed";
		case 409:
			return "Conflict";
		case 413:
			return "Payload Too Large";
		case 415:
			return "Unsupported Media Type";
		case 422:
			return "Unprocessable Entity";
		case 429:
			return "Too Many Requests";
		case 500:
			return "Internal Server Error";
		case 502:
			return "Bad Gateway";
		case 503:
			return "Service Unavailable";
		case 504:
			return "Gateway Timeout";
		default:
			if (status >= 300 && status < 400)
				return "Redirect";
			return "";
	}
}

/* body_excerpt returns the start of a text, shortened for a message. */
static char *
body_excerpt(const char *body)
{
	int			len = strlen(body);

	if (len <= BODY_EXCERPT)
		return pstrdup(body);
	len = pg_mbcliplen(body, len, BODY_EXCERPT);
	return psprintf("%.*s...", len, body);
}

/*
 * find_scope returns the first OAuth scope named in a text (such as
 * "cms:write"), or NULL.
 */
static char *
find_scope(const char *text)
{
	static const char *const scopes[] = {
		"authorized_user:read", "sites:read", "sites:write", "cms:read",
		"cms:write", "comments:read", "comments:write", "pages:read",
		"pages:write", "forms:read", "assets:read", "custom_code:read",
		NULL
	};
	int			i;

	for (i = 0; scopes[i] != NULL; i++)
	{
		if (strstr(text, scopes[i]) != NULL)
			return pstrdup(scopes[i]);
	}
	return NULL;
}

/*
 * describe_response returns Webflow's code, message and details of an
 * error response verbatim, or an excerpt of a body that is not Webflow's
 * error JSON.
 */
static char *
describe_response(WebflowHttpResult *result)
{
	Jsonb	   *body = webflow_jsonb_try_parse(result->body);
	JsonbValue *code = webflow_jsonb_get(body, "code");
	JsonbValue *message = webflow_jsonb_get(body, "message");
	JsonbValue *details = webflow_jsonb_get(body, "details");
	StringInfoData detail;

	initStringInfo(&detail);
	if (code != NULL || message != NULL)
	{
		appendStringInfo(&detail, "code: %s",
						 code ? webflow_jsonb_string(code) ?
						 webflow_jsonb_string(code) : webflow_jsonb_value_text(code) :
						 "(none)");
		if (message != NULL)
			appendStringInfo(&detail, "; message: %s",
							 webflow_jsonb_string(message) ?
							 webflow_jsonb_string(message) :
							 webflow_jsonb_value_text(message));
		if (details != NULL && webflow_jsonb_array_size(details) != 0 &&
			details->type != jbvNull)
			appendStringInfo(&detail, "; details: %s",
							 webflow_jsonb_value_text(details));
	}
	else if (result->body_len > 0)
		appendStringInfo(&detail, "Response body: %s", body_excerpt(result->body));
	else
		appendStringInfoString(&detail, "The response had no body.");
	return detail.data;
}

/*
 * webflow_describe_failure says in one line why a request failed, for the
 * outbox and the status view: the HTTP status and Webflow's own error, or
 * the network failure.
 */
char *
webflow_describe_failure(WebflowHttpResult *result)
{
	switch (result->outcome)
	{
		case WEBFLOW_HTTP_RESPONSE:
			return psprintf("HTTP %ld%s%s: %s", result->status,
							status_reason(result->status)[0] ? " " : "",
							status_reason(result->status),
							describe_response(result));
		case WEBFLOW_HTTP_CANCELED:
			return pstrdup("canceled");
		case WEBFLOW_HTTP_TIMEOUT:
			return psprintf("timed out after %.0f ms (phase: %s): %s",
							result->elapsed_ms, result->phase, result->error);
		case WEBFLOW_HTTP_NETWORK_ERROR:
			return psprintf("network failure after %.0f ms (phase: %s): %s",
							result->elapsed_ms, result->phase, result->error);
		case WEBFLOW_HTTP_TOO_LARGE:
			return pstrdup("the response is larger than 64 MB");
	}
	return pstrdup("unknown failure");
}

/*
 * report_http_status raises the error for a non-2xx response: errmsg names
 * the operation and status, errdetail carries Webflow's code, message and
 * details verbatim, errhint says what to do.
 */
static void
report_http_status(const char *operation, WebflowHttpResult *result)
{
	long		status = result->status;
	char	   *detail = describe_response(result);
	char	   *hint;
	int			sqlstate;
	char	   *scope;

	switch (status)
	{
		case 401:
			sqlstate = ERRCODE_WEBFLOW_AUTH;
			hint = pstrdup("Check webflow.token: Webflow did not accept it (missing, mistyped, expired or revoked).");
			break;
		case 403:
			sqlstate = ERRCODE_WEBFLOW_FORBIDDEN;
			scope = find_scope(result->body);
			if (scope != NULL)
				hint = psprintf("The token lacks the \"%s\" scope this operation needs: grant it to the token in Webflow.", scope);
			else
				hint = pstrdup("The token is valid but lacks a scope or access this operation needs: check its scopes and sites in Webflow (webflow.get_authorization_info()).");
			break;
		case 404:
			sqlstate = ERRCODE_WEBFLOW_NOT_FOUND;
			hint = pstrdup("Check the id: it must exist and be visible to this token.");
			break;
		case 409:
			sqlstate = ERRCODE_WEBFLOW_CONFLICT;
			hint = pstrdup("The object is not in a state that allows this operation (for example, the item is not published).");
			break;
		case 429:
			sqlstate = ERRCODE_WEBFLOW_RATE_LIMITED;
			hint = psprintf("Webflow is rate limiting this token; retry after %d s.",
							result->retry_after_s >= 0 ? result->retry_after_s : 60);
			break;
		default:
			if (status >= 500)
			{
				sqlstate = ERRCODE_WEBFLOW_SERVER_ERROR;
				hint = pstrdup("Webflow could not process the request; retry later.");
			}
			else if (status >= 300 && status < 400)
			{
				sqlstate = ERRCODE_WEBFLOW_CLIENT_ERROR;
				hint = pstrdup("Redirects are not followed: check webflow.api_url.");
			}
			else
			{
				sqlstate = ERRCODE_WEBFLOW_CLIENT_ERROR;
				hint = pstrdup("Webflow rejected the request: correct it as the details say.");
			}
			break;
	}

	ereport(ERROR,
			(errcode(sqlstate),
			 errmsg("Webflow %s failed: HTTP %ld%s%s", operation, status,
					status_reason(status)[0] ? " " : "", status_reason(status)),
			 errdetail_internal("%s", detail),
			 errhint("%s", hint)));
}

/*
 * webflow_report_failure raises the error for a request that did not end
 * with a 2xx response.
 */
void
webflow_report_failure(const char *operation, WebflowHttpResult *result)
{
	switch (result->outcome)
	{
		case WEBFLOW_HTTP_RESPONSE:
			report_http_status(operation, result);
			break;
		case WEBFLOW_HTTP_CANCELED:
			/* raises the cancel or termination error that is pending */
			CHECK_FOR_INTERRUPTS();
			ereport(ERROR,
					(errcode(ERRCODE_QUERY_CANCELED),
					 errmsg("Webflow %s was canceled", operation)));
			break;
		case WEBFLOW_HTTP_TIMEOUT:
			ereport(ERROR,
					(errcode(ERRCODE_WEBFLOW_TIMEOUT),
					 errmsg("Webflow %s timed out after %.0f ms (phase: %s)",
							operation, result->elapsed_ms, result->phase),
					 errdetail_internal("%s", result->error),
					 errhint("webflow.timeout is %d ms and webflow.connect_timeout %d ms; raise them if the API is slow, or check the network path to webflow.api_url.",
							 webflow_timeout_ms, webflow_connect_timeout_ms)));
			break;
		case WEBFLOW_HTTP_NETWORK_ERROR:
			ereport(ERROR,
					(errcode(ERRCODE_WEBFLOW_NETWORK),
					 errmsg("Webflow %s failed after %.0f ms (phase: %s)",
							operation, result->elapsed_ms, result->phase),
					 errdetail_internal("%s", result->error),
					 errhint("Check webflow.api_url and that the database server can reach it.")));
			break;
		case WEBFLOW_HTTP_TOO_LARGE:
			ereport(ERROR,
					(errcode(ERRCODE_WEBFLOW_BAD_RESPONSE),
					 errmsg("Webflow %s failed: the response is larger than 64 MB",
							operation)));
			break;
	}
}

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
				 errdetail_internal("Response body: %s", body_excerpt(result.body)),
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

/* append_json_string appends s as a JSON string literal. */
static void
append_json_string(StringInfo buf, const char *s)
{
	escape_json(buf, s);
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
							body_excerpt(id)),
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
		StringInfoData body;

		CHECK_FOR_INTERRUPTS();
		initStringInfo(&body);
		appendStringInfoString(&body, "{\"items\": [");
		for (i = start; i < end; i++)
		{
			if (i > start)
				appendStringInfoString(&body, ", ");
			appendStringInfoString(&body,
								   webflow_jsonb_value_text(webflow_jsonb_array_element(&root, i)));
		}
		appendStringInfoString(&body, "]}");
		cctx.first = start + 1;
		cctx.last = end;
		emit_items(rsinfo->setResult, rsinfo->setDesc,
				   webflow_call(operation, method, path, query, body.data));
		pfree(body.data);
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
							i + 1, body_excerpt(id)),
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
		StringInfoData body;
		Jsonb	   *response;

		CHECK_FOR_INTERRUPTS();
		initStringInfo(&body);
		appendStringInfoString(&body, as_item_ids ? "{\"itemIds\": [" : "{\"items\": [");
		for (i = start; i < end; i++)
		{
			if (i > start)
				appendStringInfoString(&body, ", ");
			if (!as_item_ids)
				appendStringInfoString(&body, "{\"id\": ");
			append_json_string(&body, TextDatumGetCString(elems[i]));
			if (!as_item_ids)
				appendStringInfoChar(&body, '}');
		}
		appendStringInfoString(&body, "]}");
		cctx.first = start + 1;
		cctx.last = end;
		response = webflow_call(operation, method, path, NULL, body.data);
		if (responses != NULL && response != NULL)
			*responses = lappend(*responses, response);
		pfree(body.data);
	}
	error_context_stack = errcb.previous;
	return n;
}
