/*-------------------------------------------------------------------------
 *
 * api_args.c
 *		Checking the arguments of the API functions and turning them into a
 *		URL: Webflow ids, required text, percent-escaping, query strings
 *		from JSON (deepObject style for ranges).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "api_args.h"
#include "api_errors.h"
#include "compat.h"
#include "http.h"
#include "jsonb_util.h"
#include "value_parse.h"
#include "webflow.h"

static void append_query_value(StringInfo query, const char *name,
							   JsonbValue *v, const char *argname);

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
						webflow_excerpt(s)),
				 errdetail("Webflow ids are 24 lowercase hexadecimal characters."),
				 errhint("Copy the id from the Webflow API, for example from webflow.list_sites() or webflow.list_collections(site_id).")));
	return s;
}

/*
 * webflow_append_escaped appends s percent-encoded for a URL (every byte
 * but RFC 3986's unreserved characters), with libcurl's curl_easy_escape.
 */
void
webflow_append_escaped(StringInfo buf, const char *s)
{
	size_t		len = strlen(s);
	char	   *escaped;

	if (len > (size_t) INT_MAX / 3)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("query parameter value is too long (%zu bytes)", len)));
	escaped = curl_easy_escape(NULL, s, (int) len);
	if (escaped == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory escaping a query parameter")));
	PG_TRY();
	{
		appendStringInfoString(buf, escaped);
	}
	PG_FINALLY();
	{
		curl_free(escaped);
	}
	PG_END_TRY();
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

