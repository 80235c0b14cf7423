/*-------------------------------------------------------------------------
 *
 * row_image.c
 *		The row image of the publish trigger: the same jsonb as to_jsonb()
 *		of the row, built with what to_jsonb works out again for every
 *		column of every row (the type's category, its output function)
 *		worked out once per trigger and session.
 *
 * to_jsonb(record) looks each column's type up in the catalogs on every
 * call (base type, element type, row type, output function).  Here the
 * columns of the common built-in kinds are converted as to_jsonb converts
 * them, from cached output functions: booleans; integers (int2, int4,
 * int8: the numeric that numeric_in makes of their output, made directly);
 * other numbers (float4, float8, numeric: a JSON number when the output is
 * one, else a string, as to_jsonb does); text, varchar and bpchar (their
 * characters as a string, which is what their output functions return,
 * taken from the value itself, up to a NUL as the output function would
 * stop); name and uuid (the output as a string); date, timestamp and
 * timestamptz (JsonEncodeDateTime, as to_jsonb).  A domain counts as its
 * base type, as in to_jsonb.  Every other column (json, jsonb, arrays,
 * composites, types of extensions or users, which may have a cast to
 * json) goes through to_jsonb() of its own value, which is what
 * to_jsonb(record) does for it.
 *
 * Everything runs as the current user: the trigger calls this as the
 * writer, before any switch of user.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "nodes/makefuncs.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/numeric.h"

#include "row_image.h"

/* How a column is turned into a jsonb value. */
typedef enum ImageKind
{
	IMAGE_BOOL,					/* jbvBool */
	IMAGE_INTEGER,				/* int2, int4, int8: a number, directly */
	IMAGE_NUMBER,				/* output, then a number unless NaN/Infinity */
	IMAGE_TEXT,					/* text, varchar, bpchar: its characters */
	IMAGE_STRING,				/* output as a string */
	IMAGE_DATETIME,				/* date, timestamp, timestamptz: ISO 8601 */
	IMAGE_TO_JSONB				/* to_jsonb() of the value */
} ImageKind;

/* One column of the row image. */
typedef struct ImageColumn
{
	AttrNumber	attnum;
	JsonbValue	key;			/* the column's name */
	ImageKind	kind;
	Oid			basetype;
	FmgrInfo	fn;				/* output function, or to_jsonb */
} ImageColumn;

struct WebflowRowImage
{
	int			ncolumns;
	ImageColumn *columns;
	int		   *key_order;		/* columns in jsonb's order of object keys */
};

static ImageKind column_kind(Oid basetype);
static int	compare_keys(const void *a, const void *b, void *arg);
static int64 integer_value(Oid basetype, Datum value);
static void string_value(const char *str, int len, JsonbValue *out);
static void column_value(ImageColumn *col, Datum value, JsonbValue *out);
static Jsonb *image_pushed(WebflowRowImage *ri, JsonbValue *values);

/* column_kind says how to_jsonb treats a (base) type we convert ourselves. */
static ImageKind
column_kind(Oid basetype)
{
	switch (basetype)
	{
		case BOOLOID:
			return IMAGE_BOOL;
		case INT2OID:
		case INT4OID:
		case INT8OID:
			return IMAGE_INTEGER;
		case FLOAT4OID:
		case FLOAT8OID:
		case NUMERICOID:
			return IMAGE_NUMBER;
		case TEXTOID:
		case VARCHAROID:
		case BPCHAROID:
			return IMAGE_TEXT;
		case NAMEOID:
		case UUIDOID:
			return IMAGE_STRING;
		case DATEOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
			return IMAGE_DATETIME;
		default:
			return IMAGE_TO_JSONB;
	}
}

/*
 * compare_keys orders two columns as a jsonb object orders its keys:
 * shorter names first, then bytewise (lengthCompareJsonbStringValue).
 */
static int
compare_keys(const void *a, const void *b, void *arg)
{
	ImageColumn *columns = (ImageColumn *) arg;
	JsonbValue *ka = &columns[*(const int *) a].key;
	JsonbValue *kb = &columns[*(const int *) b].key;

	if (ka->val.string.len != kb->val.string.len)
		return ka->val.string.len > kb->val.string.len ? 1 : -1;
	return memcmp(ka->val.string.val, kb->val.string.val, ka->val.string.len);
}

/*
 * webflow_row_image_prepare works out, in cxt, how each column of rows of
 * desc becomes part of the image.
 */
WebflowRowImage *
webflow_row_image_prepare(TupleDesc desc, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	WebflowRowImage *ri = palloc0(sizeof(WebflowRowImage));
	int			i;

	ri->columns = palloc0(sizeof(ImageColumn) * Max(desc->natts, 1));
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		ImageColumn *col;
		Oid			base;

		if (att->attisdropped)
			continue;
		col = &ri->columns[ri->ncolumns++];
		col->attnum = att->attnum;
		col->key.type = jbvString;
		col->key.val.string.val = pstrdup(NameStr(att->attname));
		col->key.val.string.len = strlen(col->key.val.string.val);
		base = getBaseType(att->atttypid);
		col->kind = column_kind(base);
		col->basetype = base;
		if (col->kind == IMAGE_STRING || col->kind == IMAGE_NUMBER)
		{
			Oid			outfunc;
			bool		varlena;

			getTypeOutputInfo(base, &outfunc, &varlena);
			fmgr_info_cxt(outfunc, &col->fn, cxt);
		}
		else if (col->kind == IMAGE_TO_JSONB)
		{
			/* to_jsonb learns its argument's type from the call expression */
			Node	   *arg = (Node *) makeNullConst(att->atttypid, att->atttypmod,
													 att->attcollation);

			fmgr_info_cxt(F_TO_JSONB, &col->fn, cxt);
			fmgr_info_set_expr((Node *) makeFuncExpr(F_TO_JSONB, JSONBOID,
													 list_make1(arg), InvalidOid,
													 InvalidOid, COERCE_EXPLICIT_CALL),
							   &col->fn);
		}
	}
	ri->key_order = palloc(sizeof(int) * Max(ri->ncolumns, 1));
	for (i = 0; i < ri->ncolumns; i++)
		ri->key_order[i] = i;
	qsort_arg(ri->key_order, ri->ncolumns, sizeof(int), compare_keys, ri->columns);
	MemoryContextSwitchTo(old);
	return ri;
}

/* integer_value is the value of an int2, int4 or int8 datum. */
static int64
integer_value(Oid basetype, Datum value)
{
	if (basetype == INT2OID)
		return DatumGetInt16(value);
	if (basetype == INT4OID)
		return DatumGetInt32(value);
	return DatumGetInt64(value);
}

/* string_value makes a jsonb string of len bytes at str. */
static void
string_value(const char *str, int len, JsonbValue *out)
{
	if (len > JENTRY_OFFLENMASK)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("string too long to represent as jsonb string"),
				 errdetail("Due to an implementation restriction, jsonb strings cannot exceed %d bytes.",
						   JENTRY_OFFLENMASK)));
	out->type = jbvString;
	out->val.string.len = len;
	out->val.string.val = (char *) str;
}

/*
 * column_value converts one non-NULL value as to_jsonb(record) would: a
 * scalar, or a container (jbvBinary, which pushJsonbValue unpacks).
 */
static void
column_value(ImageColumn *col, Datum value, JsonbValue *out)
{
	char	   *str = NULL;

	switch (col->kind)
	{
		case IMAGE_BOOL:
			out->type = jbvBool;
			out->val.boolean = DatumGetBool(value);
			return;
		case IMAGE_INTEGER:
			/* the numeric that numeric_in makes of the integer's output */
			out->type = jbvNumeric;
			out->val.numeric = int64_to_numeric(integer_value(col->basetype, value));
			return;
		case IMAGE_NUMBER:
			str = OutputFunctionCall(&col->fn, value);
			/* as to_jsonb: NaN and Infinity stay strings */
			if (strchr(str, 'N') == NULL && strchr(str, 'n') == NULL)
			{
				out->type = jbvNumeric;
				out->val.numeric = DatumGetNumeric(DirectFunctionCall3(numeric_in,
																	   CStringGetDatum(str),
																	   ObjectIdGetDatum(InvalidOid),
																	   Int32GetDatum(-1)));
				return;
			}
			break;
		case IMAGE_TEXT:
			{
				/* (up to a NUL, which the output function stops at too) */
				text	   *t = DatumGetTextPP(value);

				string_value(VARDATA_ANY(t), strnlen(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t)), out);
				return;
			}
		case IMAGE_STRING:
			str = OutputFunctionCall(&col->fn, value);
			break;
		case IMAGE_DATETIME:
			/* as to_jsonb: JsonEncodeDateTime, whatever DateStyle says */
			str = JsonEncodeDateTime(NULL, value, col->basetype, NULL);
			break;
		case IMAGE_TO_JSONB:
			{
				Jsonb	   *jb = DatumGetJsonbP(FunctionCall1(&col->fn, value));

				if (JB_ROOT_IS_SCALAR(jb))
				{
					if (!JsonbExtractScalar(&jb->root, out))
						elog(ERROR, "to_jsonb returned an invalid scalar");
					return;
				}
				out->type = jbvBinary;
				out->val.binary.data = &jb->root;
				out->val.binary.len = VARSIZE(jb) - VARHDRSZ;
				return;
			}
	}
	string_value(str, strlen(str), out);
}

/*
 * image_pushed makes the image of converted values with pushJsonbValue,
 * which unpacks the containers (jbvBinary) that to_jsonb gave.
 */
static Jsonb *
image_pushed(WebflowRowImage *ri, JsonbValue *values)
{
	JsonbParseState *ps = NULL;
	JsonbValue *res;
	int			i;

	(void) pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	for (i = 0; i < ri->ncolumns; i++)
	{
		(void) pushJsonbValue(&ps, WJB_KEY, &ri->columns[i].key);
		(void) pushJsonbValue(&ps, WJB_VALUE, &values[i]);
	}
	res = pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
}

/*
 * webflow_row_image returns the image of a row: to_jsonb(row), faster.
 * When every value is a scalar, the object is handed to JsonbValueToJsonb
 * whole, its pairs already in jsonb's order of keys (worked out once; a
 * table's column names are unique), which pushJsonbValue would sort again
 * for every row.
 */
Jsonb *
webflow_row_image(WebflowRowImage *ri, HeapTuple tuple, TupleDesc desc)
{
	Datum	   *values = palloc(sizeof(Datum) * desc->natts);
	bool	   *nulls = palloc(sizeof(bool) * desc->natts);
	JsonbValue *converted = palloc(sizeof(JsonbValue) * Max(ri->ncolumns, 1));
	JsonbValue	object;
	bool		scalars = true;
	Jsonb	   *image;
	int			i;

	heap_deform_tuple(tuple, desc, values, nulls);
	for (i = 0; i < ri->ncolumns; i++)
	{
		ImageColumn *col = &ri->columns[i];

		if (nulls[col->attnum - 1])
			converted[i].type = jbvNull;
		else
			column_value(col, values[col->attnum - 1], &converted[i]);
		scalars = scalars && converted[i].type != jbvBinary;
	}
	if (!scalars)
		image = image_pushed(ri, converted);
	else
	{
		object.type = jbvObject;
		object.val.object.nPairs = ri->ncolumns;
		object.val.object.pairs = palloc(sizeof(JsonbPair) * Max(ri->ncolumns, 1));
		for (i = 0; i < ri->ncolumns; i++)
		{
			JsonbPair  *pair = &object.val.object.pairs[i];

			pair->key = ri->columns[ri->key_order[i]].key;
			pair->value = converted[ri->key_order[i]];
			pair->order = i;
		}
		image = JsonbValueToJsonb(&object);
		pfree(object.val.object.pairs);
	}
	pfree(values);
	pfree(nulls);
	pfree(converted);
	return image;
}
