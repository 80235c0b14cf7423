/*-------------------------------------------------------------------------
 *
 * field_coerce.c
 *		Turning one column value (a jsonb value from to_jsonb(row)) into the
 *		value a Webflow field accepts, pushed into the item being built.
 *
 * Without a schema, values pass through, except that the date and time
 * strings to_jsonb writes become ISO 8601 UTC with milliseconds and "Z"
 * (2022-11-18T00:00:00.000Z), the one DateTime form Webflow documents.
 * With a schema (a WebflowField), each value is coerced by its field's
 * type and validations; see doc/payload.md for the rules.
 *
 * Every error names the column, the field and the problem, shows the
 * offending value in its detail and says how to fix it in its hint.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <float.h>

#include <ctype.h>

#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "compat.h"
#include "field_coerce.h"
#include "jsonb_util.h"
#include "reference.h"
#include "value_parse.h"

/* Longest (collection id, source key) pair remembered per statement. */
#define REF_MEMO_KEY 128

/* One resolved reference: "collection:source key" -> Webflow item id. */
typedef struct RefMemoEntry
{
	char		key[REF_MEMO_KEY];
	char		item_id[WEBFLOW_ID_LEN + 1];
} RefMemoEntry;

static void push_string(JsonbParseState **ps, JsonbIteratorToken tok,
						const char *s, int len);
static void push_text(JsonbParseState **ps, JsonbIteratorToken tok,
					  JsonbValue *v, const WebflowValueTarget *t);
static void push_number(JsonbParseState **ps, JsonbIteratorToken tok,
						JsonbValue *v, const WebflowValueTarget *t);
static void push_option(JsonbParseState **ps, JsonbIteratorToken tok,
						JsonbValue *v, const WebflowValueTarget *t);
static void push_file(JsonbParseState **ps, JsonbIteratorToken tok,
					  JsonbValue *v, const WebflowValueTarget *t);
static void push_reference(JsonbParseState **ps, JsonbIteratorToken tok,
						   JsonbValue *v, const WebflowValueTarget *t);
static void push_list(JsonbParseState **ps, JsonbValue *v,
					  const WebflowValueTarget *t,
					  void (*push_one) (JsonbParseState **, JsonbIteratorToken,
										JsonbValue *, const WebflowValueTarget *));
static bool is_empty(JsonbValue *v);

/* push_string pushes a string value (s must outlive the parse state). */
static void
push_string(JsonbParseState **ps, JsonbIteratorToken tok, const char *s,
			int len)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = (char *) s;
	v.val.string.len = len;
	pushJsonbValue(ps, tok, &v);
}

/*
 * webflow_push_plain_value pushes a value without a schema: it passes
 * through, except for the date and time strings of to_jsonb.
 */
void
webflow_push_plain_value(JsonbParseState **ps, JsonbIteratorToken tok,
						 JsonbValue *v)
{
	if (v->type == jbvString && v->val.string.len >= 10 &&
		v->val.string.val[4] == '-' && v->val.string.val[7] == '-')
	{
		char		buf[25];

		if (webflow_iso_utc(v->val.string.val, v->val.string.len, true, buf))
		{
			push_string(ps, tok, pnstrdup(buf, 24), 24);
			return;
		}
	}
	pushJsonbValue(ps, tok, v);
}

/*
 * webflow_value_error reports a value that does not fit its field.
 */
void
webflow_value_error(int sqlstate, const WebflowValueTarget *t, JsonbValue *v,
					const char *problem, const char *hint)
{
	char	   *field;

	if (t->field != NULL)
		field = psprintf("Webflow field \"%s\" (%s)", t->slug,
						 t->field->type_name);
	else
		field = psprintf("Webflow field \"%s\"", t->slug);
	ereport(ERROR,
			(errcode(sqlstate),
			 errmsg("column \"%s\" does not fit %s: %s", t->column, field,
					problem),
			 errdetail("The value is %s.",
					   webflow_jsonb_excerpt(v, WEBFLOW_VALUE_EXCERPT)),
			 hint ? errhint("%s", hint) : 0));
	pg_unreachable();
}

/* is_empty says whether a value counts as no value: null, "" or []. */
static bool
is_empty(JsonbValue *v)
{
	return v->type == jbvNull ||
		(v->type == jbvString && v->val.string.len == 0) ||
		webflow_jsonb_array_size(v) == 0;
}

/* push_text coerces a value of a text field (numbers are formatted). */
static void
push_text(JsonbParseState **ps, JsonbIteratorToken tok, JsonbValue *v,
		  const WebflowValueTarget *t)
{
	int			len;
	char	   *s = webflow_value_as_text(v, &len);

	if (s == NULL)
		webflow_value_error(ERRCODE_INVALID_PARAMETER_VALUE, t, v,
							psprintf("an %s is not text", webflow_jsonb_type_name(v)),
							"Give a text, number or boolean column, or turn the value into text in the query.");
	if (t->field->max_length >= 0 &&
		pg_mbstrlen_with_len(s, len) > t->field->max_length)
		webflow_value_error(ERRCODE_STRING_DATA_RIGHT_TRUNCATION, t, v,
							psprintf("the text is longer than %d characters",
									 t->field->max_length),
							"Shorten the value, for example with left(column, n).");
	if (t->field->single_line && memchr(s, '\n', len) != NULL)
		webflow_value_error(ERRCODE_INVALID_PARAMETER_VALUE, t, v,
							"the field takes a single line",
							"Remove the line breaks, for example with replace(column, E'\\n', ' ').");
	push_string(ps, tok, s, len);
}

/* push_number coerces a Number value and enforces its validations. */
static void
push_number(JsonbParseState **ps, JsonbIteratorToken tok, JsonbValue *v,
			const WebflowValueTarget *t)
{
	const WebflowField *f = t->field;
	Numeric		n = webflow_value_as_numeric(v);
	JsonbValue	out;
	int			sign;

	if (n == NULL)
		webflow_value_error(ERRCODE_INVALID_PARAMETER_VALUE, t, v,
							"not a number",
							"Give a numeric column or text such as 42 or -1.5.");
	sign = DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(n),
											 DirectFunctionCall1(int4_numeric,
																 Int32GetDatum(0))));
	/* Webflow keeps numbers as doubles: refuse what one cannot hold */
	if (numeric_is_nan(n) || webflow_numeric_is_inf(n) ||
		DatumGetInt32(DirectFunctionCall2(numeric_cmp,
										  DirectFunctionCall1(numeric_abs, NumericGetDatum(n)),
										  DirectFunctionCall1(float8_numeric,
															  Float8GetDatum(DBL_MAX)))) > 0)
		webflow_value_error(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, t, v,
							"the number is too large for Webflow (a double-precision number)",
							NULL);
	if (f->integer_only &&
		DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(n),
										  DirectFunctionCall2(numeric_trunc,
															  NumericGetDatum(n),
															  Int32GetDatum(0)))) != 0)
		webflow_value_error(ERRCODE_INVALID_PARAMETER_VALUE, t, v,
							"the field takes whole numbers only",
							"Round the value, for example with round(column).");
	if (f->no_negative && sign < 0)
		webflow_value_error(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, t, v,
							"the field does not allow negative numbers", NULL);
	if (f->no_zero && sign == 0)
		webflow_value_error(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, t, v,
							"the field does not allow zero", NULL);
	if (f->min_value != NULL &&
		DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(n),
										  NumericGetDatum(f->min_value))) < 0)
		webflow_value_error(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, t, v,
							psprintf("the value is below the minimum %s",
									 DatumGetCString(DirectFunctionCall1(numeric_out,
																		 NumericGetDatum(f->min_value)))),
							NULL);
	if (f->max_value != NULL &&
		DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(n),
										  NumericGetDatum(f->max_value))) > 0)
		webflow_value_error(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE, t, v,
							psprintf("the value is above the maximum %s",
									 DatumGetCString(DirectFunctionCall1(numeric_out,
																		 NumericGetDatum(f->max_value)))),
							NULL);
	out.type = jbvNumeric;
	out.val.numeric = n;
	pushJsonbValue(ps, tok, &out);
}

/* push_option sends the id of the option named (or identified) by v. */
static void
push_option(JsonbParseState **ps, JsonbIteratorToken tok, JsonbValue *v,
			const WebflowValueTarget *t)
{
	const WebflowField *f = t->field;
	int			len;
	char	   *s = webflow_value_as_text(v, &len);
	StringInfoData names;
	int			pass;
	int			i;

	for (pass = 0; s != NULL && pass < 3; pass++)
	{
		for (i = 0; i < f->noptions; i++)
		{
			const char *candidate = (pass == 1) ? f->options[i].id : f->options[i].name;

			if (candidate != NULL && strlen(candidate) == len &&
				(pass == 2 ? pg_strncasecmp(candidate, s, len) == 0 :
				 memcmp(candidate, s, len) == 0))
			{
				push_string(ps, tok, f->options[i].id, strlen(f->options[i].id));
				return;
			}
		}
	}
	initStringInfo(&names);
	for (i = 0; i < f->noptions; i++)
		appendStringInfo(&names, "%s\"%s\"", i > 0 ? ", " : "",
						 f->options[i].name ? f->options[i].name : f->options[i].id);
	webflow_value_error(ERRCODE_INVALID_PARAMETER_VALUE, t, v,
						"not one of the field's options",
						psprintf("Use one of the option names %s or an option id; if the options changed in Webflow, run webflow.refresh_schema('%s').",
								 names.data, t->collection));
}

/*
 * push_file sends an Image or File value: a URL string becomes {"url": ...},
 * an object with url, fileId and alt passes through.
 */
static void
push_file(JsonbParseState **ps, JsonbIteratorToken tok, JsonbValue *v,
		  const WebflowValueTarget *t)
{
	if (v->type == jbvString)
	{
		JsonbValue	key;

		pushJsonbValue(ps, WJB_BEGIN_OBJECT, NULL);
		key.type = jbvString;
		key.val.string.val = "url";
		key.val.string.len = 3;
		pushJsonbValue(ps, WJB_KEY, &key);
		pushJsonbValue(ps, WJB_VALUE, v);
		pushJsonbValue(ps, WJB_END_OBJECT, NULL);
		return;
	}
	if (webflow_jsonb_is_object(v))
	{
		JsonbValue *url = webflow_jsonb_container_get(v->val.binary.data, "url");
		JsonbValue *file_id = webflow_jsonb_container_get(v->val.binary.data, "fileId");

		if ((url != NULL && url->type == jbvString && url->val.string.len > 0) ||
			(file_id != NULL && file_id->type == jbvString && file_id->val.string.len > 0))
		{
			pushJsonbValue(ps, tok, v);
			return;
		}
	}
	webflow_value_error(ERRCODE_INVALID_PARAMETER_VALUE, t, v,
						"a file is a URL or an object with \"url\" or \"fileId\"",
						"Give a text column holding a public URL, or jsonb such as {\"url\": \"https://...\", \"alt\": \"...\"}.");
}

/*
 * push_reference sends a Reference value: a Webflow item id as it is, any
 * other value as the item id that webflow.items holds for that source key
 * in the referenced collection.
 */
static void
push_reference(JsonbParseState **ps, JsonbIteratorToken tok, JsonbValue *v,
			   const WebflowValueTarget *t)
{
	const char *collection = t->field->ref_collection;
	char	   *key;
	int			len;
	char	   *item_id;
	char		memo_key[REF_MEMO_KEY];
	RefMemoEntry *memo = NULL;
	bool		found;

	if (v->type == jbvBinary && webflow_jsonb_array_size(v) >= 0)
		key = webflow_jsonb_value_text(v);
	else if ((key = webflow_value_as_text(v, &len)) != NULL)
		key = pnstrdup(key, len);
	else
		webflow_value_error(ERRCODE_INVALID_PARAMETER_VALUE, t, v,
							"a reference is an item id or a row key",
							"Give the key of the referenced row (or an array for a composite key), or a Webflow item id.");
	if (webflow_is_object_id(key))
	{
		push_string(ps, tok, key, strlen(key));
		return;
	}
	if (collection == NULL)
		webflow_value_error(ERRCODE_INVALID_PARAMETER_VALUE, t, v,
							"the schema names no referenced collection, so only Webflow item ids are accepted",
							"Run webflow.refresh_schema for this collection, or give Webflow item ids.");

	/* resolved before in this statement? */
	memset(memo_key, 0, sizeof(memo_key));
	if (strlen(collection) + 1 + strlen(key) < REF_MEMO_KEY)
	{
		snprintf(memo_key, sizeof(memo_key), "%s:%s", collection, key);
		if (*t->ref_memo == NULL)
		{
			HASHCTL		ctl;

			memset(&ctl, 0, sizeof(ctl));
			ctl.keysize = REF_MEMO_KEY;
			ctl.entrysize = sizeof(RefMemoEntry);
			ctl.hcxt = t->memo_cxt;
			*t->ref_memo = hash_create("webflow reference memo", 64, &ctl,
									   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		}
		memo = hash_search(*t->ref_memo, memo_key, HASH_FIND, NULL);
		if (memo != NULL)
		{
			push_string(ps, tok, memo->item_id, WEBFLOW_ID_LEN);
			return;
		}
	}

	item_id = webflow_item_lookup(collection, key);
	if (item_id == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
				 errmsg("column \"%s\" does not fit Webflow field \"%s\" (%s): no item for key %s in collection %s",
						t->column, t->slug, t->field->type_name,
						webflow_jsonb_excerpt(v, WEBFLOW_VALUE_EXCERPT), collection),
				 errdetail("webflow.items has no row with collection_id '%s' and source_key '%s'.",
						   collection, key),
				 errhint("Publish the referenced row first, or give the Webflow item id.")));
	if (memo_key[0] != '\0' && strlen(item_id) == WEBFLOW_ID_LEN)
	{
		memo = hash_search(*t->ref_memo, memo_key, HASH_ENTER, &found);
		memcpy(memo->item_id, item_id, WEBFLOW_ID_LEN + 1);
	}
	push_string(ps, tok, item_id, strlen(item_id));
}

/*
 * push_list pushes an array whose elements push_one coerces; a single
 * value stands for a one-element list.
 */
static void
push_list(JsonbParseState **ps, JsonbValue *v, const WebflowValueTarget *t,
		  void (*push_one) (JsonbParseState **, JsonbIteratorToken,
							JsonbValue *, const WebflowValueTarget *))
{
	int			n = webflow_jsonb_array_size(v);
	int			i;

	pushJsonbValue(ps, WJB_BEGIN_ARRAY, NULL);
	if (n < 0)
		push_one(ps, WJB_ELEM, v, t);
	for (i = 0; i < n; i++)
		push_one(ps, WJB_ELEM, webflow_jsonb_array_element(v, i), t);
	pushJsonbValue(ps, WJB_END_ARRAY, NULL);
}

/*
 * webflow_push_field_value coerces v by its field's type and pushes it as
 * the next value (tok WJB_VALUE) or element (WJB_ELEM).
 */
void
webflow_push_field_value(JsonbParseState **ps, JsonbIteratorToken tok,
						 JsonbValue *v, const WebflowValueTarget *t)
{
	const WebflowField *f = t->field;
	char		buf[25];
	int			len;
	char	   *s;

	if (f == NULL)
	{
		webflow_push_plain_value(ps, tok, v);
		return;
	}
	if (is_empty(v))
	{
		if (f->required)
			webflow_value_error(ERRCODE_NOT_NULL_VIOLATION, t, v,
								"the field is required",
								"Give every row a value for this column, for example with coalesce().");
		/* "" means no value, except for the text types (listed first) */
		if (v->type == jbvString && f->type > WF_VIDEO_LINK)
			v->type = jbvNull;
		pushJsonbValue(ps, tok, v);
		return;
	}
	switch (f->type)
	{
		case WF_PLAIN_TEXT:
		case WF_RICH_TEXT:
		case WF_EMAIL:
		case WF_PHONE:
		case WF_LINK:
		case WF_VIDEO_LINK:
			push_text(ps, tok, v, t);
			break;
		case WF_NUMBER:
			push_number(ps, tok, v, t);
			break;
		case WF_SWITCH:
			{
				JsonbValue	b;

				if (!webflow_value_as_bool(v, &b.val.boolean))
					webflow_value_error(ERRCODE_INVALID_PARAMETER_VALUE, t, v,
										"not a boolean",
										"Give a boolean column, or text such as true/false, yes/no, 1/0.");
				b.type = jbvBool;
				pushJsonbValue(ps, tok, &b);
			}
			break;
		case WF_DATETIME:
			if (v->type != jbvString ||
				!webflow_iso_utc(v->val.string.val, v->val.string.len, false, buf))
				webflow_value_error(ERRCODE_INVALID_DATETIME_FORMAT, t, v,
									"not a date or an ISO 8601 timestamp",
									"Give a date, timestamp or timestamptz column, or text such as 2022-11-18T09:30:00+02:00.");
			push_string(ps, tok, pnstrdup(buf, 24), 24);
			break;
		case WF_COLOR:
			s = webflow_value_as_text(v, &len);
			if (v->type != jbvString || !webflow_valid_color(s, len))
				webflow_value_error(ERRCODE_INVALID_PARAMETER_VALUE, t, v,
									"not a color",
									"Use #RGB, #RRGGBB, #RRGGBBAA, rgb(), rgba(), hsl(), hsla() or a CSS color name.");
			pushJsonbValue(ps, tok, v);
			break;
		case WF_OPTION:
			push_option(ps, tok, v, t);
			break;
		case WF_IMAGE:
		case WF_FILE:
			push_file(ps, tok, v, t);
			break;
		case WF_MULTI_IMAGE:
			push_list(ps, v, t, push_file);
			break;
		case WF_REFERENCE:
			push_reference(ps, tok, v, t);
			break;
		case WF_MULTI_REFERENCE:
			push_list(ps, v, t, push_reference);
			break;
		case WF_USER:
			webflow_value_error(ERRCODE_INVALID_PARAMETER_VALUE, t, v,
								"the field is read-only",
								"Leave the column out with the \"exclude\" option.");
			break;
		case WF_OTHER:
			pushJsonbValue(ps, tok, v);
			break;
	}
}
