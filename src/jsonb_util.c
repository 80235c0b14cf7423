/*-------------------------------------------------------------------------
 *
 * jsonb_util.c
 *		Small helpers for reading and writing jsonb values from C, shared by
 *		the API functions and the payload builder.
 *
 * A JsonbValue handed around here is either a scalar or a jbvBinary that
 * points into a Jsonb container; the helpers accept both.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "mb/pg_wchar.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"

#include "jsonb_util.h"

/*
 * webflow_jsonb_try_parse parses JSON text into jsonb, or returns NULL if
 * the text is not valid JSON.
 */
Jsonb *
webflow_jsonb_try_parse(const char *text)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	Jsonb	   *volatile result = NULL;

	PG_TRY();
	{
		result = DatumGetJsonbP(DirectFunctionCall1(jsonb_in,
													CStringGetDatum(text)));
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		/* only a syntax error means "not JSON"; anything else is rethrown */
		if (edata->sqlerrcode != ERRCODE_INVALID_TEXT_REPRESENTATION &&
			edata->sqlerrcode != ERRCODE_UNTRANSLATABLE_CHARACTER &&
			edata->sqlerrcode != ERRCODE_CHARACTER_NOT_IN_REPERTOIRE)
			PG_RE_THROW();
		FlushErrorState();
		FreeErrorData(edata);
		result = NULL;
	}
	PG_END_TRY();
	return result;
}

/*
 * webflow_jsonb_container_get returns the value of key in an object
 * container, or NULL when the container is no object or lacks the key.
 */
JsonbValue *
webflow_jsonb_container_get(JsonbContainer *container, const char *key)
{
	if (container == NULL || !JsonContainerIsObject(container))
		return NULL;
	return getKeyJsonValueFromContainer(container, key, strlen(key), NULL);
}

/* webflow_jsonb_get returns the value of key in a jsonb object, or NULL. */
JsonbValue *
webflow_jsonb_get(Jsonb *jb, const char *key)
{
	if (jb == NULL)
		return NULL;
	return webflow_jsonb_container_get(&jb->root, key);
}

/* webflow_jsonb_from_value turns a JsonbValue into a jsonb datum. */
Jsonb *
webflow_jsonb_from_value(JsonbValue *v)
{
	return JsonbValueToJsonb(v);
}

/* webflow_jsonb_value_text serializes a JsonbValue as JSON text. */
char *
webflow_jsonb_value_text(JsonbValue *v)
{
	Jsonb	   *jb = JsonbValueToJsonb(v);

	return JsonbToCString(NULL, &jb->root, VARSIZE(jb));
}

/*
 * webflow_jsonb_string returns a palloc'd copy of a JSON string value, or
 * NULL when the value is not a string.
 */
char *
webflow_jsonb_string(JsonbValue *v)
{
	if (v == NULL || v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/* webflow_jsonb_is_object says whether a value is a JSON object. */
bool
webflow_jsonb_is_object(JsonbValue *v)
{
	return v != NULL && v->type == jbvBinary &&
		JsonContainerIsObject(v->val.binary.data);
}

/* webflow_jsonb_array_size returns the length of an array value, or -1. */
int
webflow_jsonb_array_size(JsonbValue *v)
{
	if (v == NULL || v->type != jbvBinary ||
		!JsonContainerIsArray(v->val.binary.data) ||
		JsonContainerIsScalar(v->val.binary.data))
		return -1;
	return JsonContainerSize(v->val.binary.data);
}

/* webflow_jsonb_array_element returns element i of an array value. */
JsonbValue *
webflow_jsonb_array_element(JsonbValue *v, int i)
{
	return getIthJsonbValueFromContainer(v->val.binary.data, i);
}

/* webflow_jsonb_type_name names the JSON type of a value for messages. */
const char *
webflow_jsonb_type_name(JsonbValue *v)
{
	if (v == NULL)
		return "missing";
	switch (v->type)
	{
		case jbvNull:
			return "null";
		case jbvString:
			return "string";
		case jbvNumeric:
			return "number";
		case jbvBool:
			return "boolean";
		case jbvArray:
			return "array";
		case jbvObject:
			return "object";
		case jbvBinary:
			if (JsonContainerIsScalar(v->val.binary.data))
				return "scalar";
			return JsonContainerIsArray(v->val.binary.data) ? "array" : "object";
		default:
			return "unknown";
	}
}

/*
 * webflow_jsonb_root fills *out with the top-level value of a jsonb datum:
 * the scalar itself for a scalar document, else a jbvBinary container.
 */
JsonbValue *
webflow_jsonb_root(Jsonb *jb, JsonbValue *out)
{
	if (JB_ROOT_IS_SCALAR(jb))
	{
		JsonbExtractScalar(&jb->root, out);
		return out;
	}
	out->type = jbvBinary;
	out->val.binary.data = &jb->root;
	out->val.binary.len = VARSIZE(jb) - VARHDRSZ;
	return out;
}

/*
 * webflow_jsonb_excerpt returns a value as JSON text for an error message,
 * cut after max_chars characters (with "..." appended when cut).
 */
char *
webflow_jsonb_excerpt(JsonbValue *v, int max_chars)
{
	char	   *text;
	int			len;
	int			cut;

	if (v == NULL)
		return pstrdup("(missing)");
	text = webflow_jsonb_value_text(v);
	len = strlen(text);
	cut = pg_mbcharcliplen(text, len, max_chars);
	if (cut >= len)
		return text;
	return psprintf("%.*s...", cut, text);
}

/*
 * webflow_jsonb_put_key starts a member whose value the caller pushes next
 * (an array or object, begun with WJB_BEGIN_ARRAY or WJB_BEGIN_OBJECT).
 */
void
webflow_jsonb_put_key(JsonbParseState **st, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	pushJsonbValue(st, WJB_KEY, &k);
}

/*
 * webflow_jsonb_put_value pushes a value (a scalar, or a jbvBinary
 * container, which is copied in) into the object or array being built:
 * under key in an object, as the next element when key is NULL.
 */
void
webflow_jsonb_put_value(JsonbParseState **st, const char *key, JsonbValue *v)
{
	if (key != NULL)
	{
		webflow_jsonb_put_key(st, key);
		pushJsonbValue(st, WJB_VALUE, v);
	}
	else
		pushJsonbValue(st, WJB_ELEM, v);
}

/* webflow_jsonb_put_string adds a string member (JSON null for NULL). */
void
webflow_jsonb_put_string(JsonbParseState **st, const char *key, const char *value)
{
	JsonbValue	v;

	if (value == NULL)
		v.type = jbvNull;
	else
	{
		v.type = jbvString;
		v.val.string.val = (char *) value;
		v.val.string.len = strlen(value);
	}
	webflow_jsonb_put_value(st, key, &v);
}

/* webflow_jsonb_put_int adds a number member (JSON null when isnull). */
void
webflow_jsonb_put_int(JsonbParseState **st, const char *key, int64 value, bool isnull)
{
	JsonbValue	v;

	if (isnull)
		v.type = jbvNull;
	else
	{
		v.type = jbvNumeric;
		v.val.numeric = int64_to_numeric(value);
	}
	webflow_jsonb_put_value(st, key, &v);
}

/* webflow_jsonb_put_bool adds a boolean member. */
void
webflow_jsonb_put_bool(JsonbParseState **st, const char *key, bool value)
{
	JsonbValue	v;

	v.type = jbvBool;
	v.val.boolean = value;
	webflow_jsonb_put_value(st, key, &v);
}

/*
 * webflow_jsonb_put_time adds a timestamp member as timestamptz_to_str
 * writes it (JSON null for 0, "never").
 */
void
webflow_jsonb_put_time(JsonbParseState **st, const char *key, TimestampTz t)
{
	/* (timestamptz_to_str writes into one static buffer: copy it) */
	webflow_jsonb_put_string(st, key, t != 0 ? pstrdup(timestamptz_to_str(t)) : NULL);
}

/* webflow_jsonb_finish ends the outermost object or array and makes it jsonb. */
Jsonb *
webflow_jsonb_finish(JsonbParseState **st, bool array)
{
	return JsonbValueToJsonb(pushJsonbValue(st, array ? WJB_END_ARRAY : WJB_END_OBJECT, NULL));
}

/*
 * webflow_body_begin starts a request body that is a list under one key:
 * {"<list>": [ ... the caller pushes the elements.
 */
void
webflow_body_begin(JsonbParseState **st, const char *list)
{
	pushJsonbValue(st, WJB_BEGIN_OBJECT, NULL);
	webflow_jsonb_put_key(st, list);
	pushJsonbValue(st, WJB_BEGIN_ARRAY, NULL);
}

/* webflow_body_push_id pushes the list element {"id": id}. */
void
webflow_body_push_id(JsonbParseState **st, const char *id)
{
	pushJsonbValue(st, WJB_BEGIN_OBJECT, NULL);
	webflow_jsonb_put_string(st, "id", id);
	pushJsonbValue(st, WJB_END_OBJECT, NULL);
}

/* webflow_body_end ends a body begun by webflow_body_begin: its JSON text. */
char *
webflow_body_end(JsonbParseState **st)
{
	Jsonb	   *jb;

	pushJsonbValue(st, WJB_END_ARRAY, NULL);
	jb = webflow_jsonb_finish(st, false);
	return JsonbToCString(NULL, &jb->root, VARSIZE(jb));
}
