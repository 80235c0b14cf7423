/*-------------------------------------------------------------------------
 *
 * row_key.c
 *		The row key of a row image as text, as webflow.items and the outbox
 *		store it: shared by the publish trigger, sync() and the worker.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "jsonb_util.h"
#include "row_key.h"

PG_FUNCTION_INFO_V1(webflow_row_key_sql);

/* Longest row key in bytes: webflow.items indexes it. */
#define WEBFLOW_MAX_ROW_KEY 2000

/*
 * key_value_text is a key value as JSON text: numbers and booleans written
 * directly (as JsonbToCString writes them), other values through a jsonb.
 */
static const char *
key_value_text(JsonbValue *v)
{
	if (v->type == jbvNumeric)
		return DatumGetCString(DirectFunctionCall1(numeric_out,
												   NumericGetDatum(v->val.numeric)));
	if (v->type == jbvBool)
		return v->val.boolean ? "true" : "false";
	return webflow_jsonb_value_text(v);
}

/*
 * webflow_row_key returns the row key as text: the value of a single key
 * column (a string's contents, other values as JSON), or the JSON array of
 * the values of a composite key.
 */
char *
webflow_row_key(Jsonb *row, Datum *keys, int nkeys)
{
	StringInfoData buf;
	int			i;

	initStringInfo(&buf);
	if (nkeys > 1)
		appendStringInfoChar(&buf, '[');
	for (i = 0; i < nkeys; i++)
	{
		char	   *name = TextDatumGetCString(keys[i]);
		JsonbValue *v = webflow_jsonb_get(row, name);

		if (v == NULL || v->type == jbvNull)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("key column \"%s\" is NULL", name),
					 errhint("Rows published to Webflow need a non-NULL key; choose key columns with the \"key\" option.")));
		if (i > 0)
			appendStringInfoString(&buf, ", ");
		if (nkeys == 1 && v->type == jbvString)
			appendBinaryStringInfo(&buf, v->val.string.val, v->val.string.len);
		else
			appendStringInfoString(&buf, key_value_text(v));
	}
	if (nkeys > 1)
		appendStringInfoChar(&buf, ']');
	/* (the item map indexes the key: a longer one would stop every pass) */
	if (buf.len > WEBFLOW_MAX_ROW_KEY)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("the row key is %d bytes long, more than %d", buf.len,
						WEBFLOW_MAX_ROW_KEY),
				 errdetail("Key: %.60s...", buf.data),
				 errhint("Choose shorter key columns with the \"key\" option.")));
	return buf.data;
}

/*
 * webflow_key_names returns the key column names of a text[] argument as
 * text datums, refusing an empty array and NULL names.
 */
Datum *
webflow_key_names(ArrayType *keys, int *nkeys)
{
	Datum	   *elems;
	bool	   *nulls;
	int			i;

	deconstruct_array(keys, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, nkeys);
	if (*nkeys < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a row key needs at least one column")));
	for (i = 0; i < *nkeys; i++)
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("key column names must not be NULL")));
	return elems;
}

/* webflow._row_key(row jsonb, keys text[]) is webflow_row_key for SQL. */
Datum
webflow_row_key_sql(PG_FUNCTION_ARGS)
{
	Jsonb	   *row = PG_GETARG_JSONB_P(0);
	int			n;
	Datum	   *keys = webflow_key_names(PG_GETARG_ARRAYTYPE_P(1), &n);

	PG_RETURN_TEXT_P(cstring_to_text(webflow_row_key(row, keys, n)));
}
