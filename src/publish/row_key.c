/*-------------------------------------------------------------------------
 *
 * row_key.c
 *		The row key of a row image as text, as webflow.items and the outbox
 *		store it: shared by the publish trigger, sync() and the worker.  For
 *		a key of one integer or text column the trigger makes the same text
 *		from the column's value, without the image.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"

#include "jsonb_util.h"
#include "row_key.h"

PG_FUNCTION_INFO_V1(webflow_row_key_sql);

/* Longest row key in bytes: webflow.items indexes it. */
#define WEBFLOW_MAX_ROW_KEY 2000

static void key_is_null(const char *name);
static void check_key_length(const char *key, int len);

/* key_is_null refuses a row whose key column is NULL. */
static void
key_is_null(const char *name)
{
	ereport(ERROR,
			(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
			 errmsg("key column \"%s\" is NULL", name),
			 errhint("Rows published to Webflow need a non-NULL key; choose key columns with the \"key\" option.")));
}

/* check_key_length refuses a key too long for the item map's index. */
static void
check_key_length(const char *key, int len)
{
	if (len > WEBFLOW_MAX_ROW_KEY)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errmsg("the row key is %d bytes long, more than %d", len,
						WEBFLOW_MAX_ROW_KEY),
				 errdetail("Key: %.*s...", pg_mbcliplen(key, len, 60), key),
				 errhint("Choose shorter key columns with the \"key\" option.")));
}

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
			key_is_null(name);
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
	check_key_length(buf.data, buf.len);
	return buf.data;
}

/*
 * webflow_row_key_type says whether a key column of type typid has a key
 * that webflow_row_key_of_value makes from its value: for a domain, its
 * base type.  Integers (int2, int4, int8) are written by to_jsonb as the
 * numbers they are, and a number's key is its digits; text, varchar and
 * bpchar become a string of their characters, which is the key.  Returns
 * the base type, or InvalidOid for any other type.
 */
Oid
webflow_row_key_type(Oid typid)
{
	Oid			base = getBaseType(typid);

	switch (base)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
			return base;
		default:
			return InvalidOid;
	}
}

/*
 * webflow_row_key_of_value returns the key of a row whose one key column,
 * name, of a base type webflow_row_key_type accepted, has this value:
 * the text webflow_row_key makes of the row's image.
 */
char *
webflow_row_key_of_value(Oid basetype, Datum value, bool isnull, const char *name)
{
	char	   *key;
	int			len;

	if (isnull)
		key_is_null(name);
	if (basetype == TEXTOID || basetype == VARCHAROID || basetype == BPCHAROID)
	{
		key = TextDatumGetCString(value);
		len = strlen(key);
	}
	else
	{
		int64		n = (basetype == INT2OID) ? DatumGetInt16(value) :
		(basetype == INT4OID) ? DatumGetInt32(value) : DatumGetInt64(value);

		key = palloc(MAXINT8LEN + 1);
		len = pg_lltoa(n, key);
	}
	check_key_length(key, len);
	return key;
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
