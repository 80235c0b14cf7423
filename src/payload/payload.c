/*-------------------------------------------------------------------------
 *
 * payload.c
 *		webflow.item_payload(row jsonb, options jsonb): turn a table row
 *		(to_jsonb(t)) into the item Webflow accepts,
 *		{"isArchived": ..., "isDraft": ..., "fieldData": {...}, "cmsLocaleId": ...}.
 *		No network I/O happens here (except that the first use of a
 *		collection's schema may fetch it, see schema_cache.c).
 *
 * Speed matters: the function is called once per row of big queries.  The
 * parsed options are kept in fn_extra for as long as the options datum is
 * the same, and so is a plan for the last row shape seen (the list of
 * column names, which is the same for every row of a table): which column
 * is skipped, which one is the name, the slug or a flag, and which field
 * each of the others goes to (payload_plan.c makes both).  A row then
 * costs one pass over its values.
 * The field schema comes from the backend cache of schema_cache.c and is
 * looked up again only when that cache changes.
 *
 * The same code serves the publish worker through webflow_payload_prepare
 * and webflow_payload_build.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "field_coerce.h"
#include "jsonb_util.h"
#include "payload.h"
#include "payload_plan.h"
#include "schema_cache.h"
#include "slugify.h"
#include "value_parse.h"

PG_FUNCTION_INFO_V1(webflow_item_payload);

/* How much of a row an error context shows. */
#define ROW_EXCERPT 200

static bool shape_matches(WebflowPayloadState *st, int n);
static int	collect_row(WebflowPayloadState *st, Jsonb *row);
static bool flag_value(const char *option, const ColumnPlan *plan,
					   JsonbValue *v);
static bool valid_slug(JsonbValue *v);
static char *push_name(JsonbParseState **ps, const ColumnPlan *c, JsonbValue *v,
					   WebflowValueTarget *target, int *len);
static void push_derived_slug(JsonbParseState **ps, const char *name, int name_len);
static void row_error_context(void *arg);
static void check_row(Jsonb *row);
static int	prepare_row(WebflowPayloadState *st, Jsonb *row);

/* shape_matches says whether the row's keys are those of the plan. */
static bool
shape_matches(WebflowPayloadState *st, int n)
{
	int			i;

	if (!st->shape_valid || st->ncols != n)
		return false;
	for (i = 0; i < n; i++)
		if (st->keys[i].val.string.len != st->cols[i].column_len ||
			memcmp(st->keys[i].val.string.val, st->cols[i].column,
				   st->cols[i].column_len) != 0)
			return false;
	return true;
}

/* collect_row reads a row's keys and values into st; returns their number. */
static int
collect_row(WebflowPayloadState *st, Jsonb *row)
{
	JsonbIterator *it;
	JsonbIteratorToken tok;
	JsonbValue	v;
	int			n = 0;

	if (JB_ROOT_COUNT(row) > st->capacity)
	{
		st->capacity = JB_ROOT_COUNT(row) + 8;
		if (st->keys)
			pfree(st->keys), pfree(st->values);
		st->keys = MemoryContextAlloc(st->mcxt, sizeof(JsonbValue) * st->capacity);
		st->values = MemoryContextAlloc(st->mcxt, sizeof(JsonbValue) * st->capacity);
	}
	it = JsonbIteratorInit(&row->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			st->keys[n] = v;
		else if (tok == WJB_VALUE)
			st->values[n++] = v;
	}
	return n;
}

/* flag_value reads isDraft or isArchived from its column. */
static bool
flag_value(const char *option, const ColumnPlan *plan, JsonbValue *v)
{
	bool		result = false;

	if (v->type != jbvNull && !webflow_value_as_bool(v, &result))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("column \"%s\" (option \"%s\") is not a boolean",
						plan->column, option),
				 errdetail("The value is %s.",
						   webflow_jsonb_excerpt(v, WEBFLOW_VALUE_EXCERPT)),
				 errhint("Name a boolean column in \"%s\", or give true or false.",
						 option)));
	return result;
}

/* valid_slug says whether a value is a slug: a-z, 0-9 and hyphens. */
static bool
valid_slug(JsonbValue *v)
{
	int			i;

	if (v->type != jbvString)
		return false;
	for (i = 0; i < v->val.string.len; i++)
	{
		char		ch = v->val.string.val[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
			return false;
	}
	return true;
}

/* row_error_context names the row in errors raised while building it. */
static void
row_error_context(void *arg)
{
	JsonbValue	root;

	errcontext("webflow.item_payload of row %s",
			   webflow_jsonb_excerpt(webflow_jsonb_root((Jsonb *) arg, &root),
									 ROW_EXCERPT));
}

/* check_row refuses a row that is not a JSON object. */
static void
check_row(Jsonb *row)
{
	if (!JB_ROOT_IS_OBJECT(row) || JB_ROOT_IS_SCALAR(row))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("webflow.item_payload needs a row as a JSON object, not %s",
						JB_ROOT_IS_ARRAY(row) && !JB_ROOT_IS_SCALAR(row) ? "an array" : "a scalar"),
				 errhint("Pass to_jsonb(t) for a row t.")));
}

/*
 * prepare_row reads the values of a row (an object) into st and makes sure the plan fits its shape (and the collection's schema); it
 * returns the number of values.
 */
static int
prepare_row(WebflowPayloadState *st, Jsonb *row)
{
	int			n;

	if (st->collection != NULL)
	{
		uint64		generation = webflow_schema_generation();

		if (st->schema == NULL || generation != st->schema_generation)
		{
			st->schema = webflow_schema_get(st->collection);
			st->schema_generation = generation;
			st->shape_valid = false;
		}
	}
	n = collect_row(st, row);
	if (!shape_matches(st, n))
		webflow_payload_plan_shape(st, n);
	return n;
}

/*
 * webflow_payload_slug_of returns the slug a row's item gets (its slug
 * column, else the slug of its name), or NULL when it has none.  Unlike
 * webflow_payload_build it neither checks nor converts the other values,
 * nor looks references up, so it answers for a row whose item cannot be
 * built now (a referenced row was deleted since, say): the publish worker
 * looks an earlier create up by the slug it was sent with.
 */
char *
webflow_payload_slug_of(WebflowPayloadState *st, Jsonb *row)
{
	char	   *name = NULL;
	int			name_len = 0;
	int			n;
	int			i;
	int			len;
	char	   *slug;

	check_row(row);
	n = prepare_row(st, row);
	for (i = 0; i < n; i++)
	{
		JsonbValue *v = &st->values[i];

		if (st->cols[i].role == ROLE_SLUG && v->type != jbvNull &&
			!(v->type == jbvString && v->val.string.len == 0))
			return valid_slug(v) ? pnstrdup(v->val.string.val, v->val.string.len) : NULL;
		if (st->cols[i].role == ROLE_NAME && v->type != jbvNull && v->type != jbvBinary)
			name = webflow_value_as_text(v, &name_len);
	}
	if (name == NULL || name_len == 0)
		return NULL;
	slug = webflow_slugify_cstring(name, name_len, &len);
	return len > 0 ? slug : NULL;
}

/*
 * webflow_payload_name_of returns the name a row's item gets, or NULL when
 * it has none; like webflow_payload_slug_of it checks nothing else, so
 * that an earlier create of a row whose item cannot be built now can be
 * looked up by its name too.
 */
char *
webflow_payload_name_of(WebflowPayloadState *st, Jsonb *row)
{
	int			n;
	int			i;
	int			len = 0;
	char	   *name;

	check_row(row);
	n = prepare_row(st, row);
	for (i = 0; i < n; i++)
	{
		JsonbValue *v = &st->values[i];

		if (st->cols[i].role != ROLE_NAME || v->type == jbvNull || v->type == jbvBinary)
			continue;
		name = webflow_value_as_text(v, &len);
		return name != NULL && len > 0 ? pnstrdup(name, len) : NULL;
	}
	return NULL;
}

/*
 * push_name pushes the item's name from its column and returns it (as
 * text, *len bytes), refusing one that is missing, empty or not text.
 */
static char *
push_name(JsonbParseState **ps, const ColumnPlan *c, JsonbValue *v,
		  WebflowValueTarget *target, int *len)
{
	char	   *name = NULL;

	if (v->type == jbvBinary)
		webflow_value_error(ERRCODE_INVALID_PARAMETER_VALUE, target, v,
							psprintf("a name is text, not an %s",
									 webflow_jsonb_type_name(v)),
							"Give a text column as the name.");
	if (v->type == jbvNull ||
		(name = webflow_value_as_text(v, len)) == NULL || *len == 0)
		webflow_value_error(ERRCODE_NOT_NULL_VIOLATION, target, v,
							"every item needs a name",
							"Give each row a non-empty name, for example with coalesce().");
	webflow_jsonb_put_key(ps, "name");
	if (c->field != NULL)
		webflow_push_field_value(ps, WJB_VALUE, v, target);
	else
	{
		JsonbValue	b;

		b.type = jbvString;
		b.val.string.val = name;
		b.val.string.len = *len;
		pushJsonbValue(ps, WJB_VALUE, &b);
	}
	return name;
}

/* push_derived_slug pushes the slug made from the name (a row without one). */
static void
push_derived_slug(JsonbParseState **ps, const char *name, int name_len)
{
	JsonbValue	b;

	b.type = jbvString;
	b.val.string.val = webflow_slugify_cstring(name, name_len, &b.val.string.len);
	if (b.val.string.len == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot derive a slug from the name \"%s\": it has no Latin letter or digit",
						pnstrdup(name, pg_mbcliplen(name, name_len, WEBFLOW_VALUE_EXCERPT))),
				 errhint("Give the row a slug column (lowercase letters a-z, digits and hyphens).")));
	webflow_jsonb_put_key(ps, "slug");
	pushJsonbValue(ps, WJB_VALUE, &b);
}

/*
 * webflow_payload_build turns a row (a jsonb object) into a Webflow item.
 */
Jsonb *
webflow_payload_build(WebflowPayloadState *st, Jsonb *row)
{
	ErrorContextCallback errcallback;
	JsonbParseState *ps = NULL;
	JsonbValue *result;
	WebflowValueTarget target;
	bool		draft = st->draft.value;
	bool		archived = st->archived.value;
	char	   *name = NULL;
	int			name_len = 0;
	bool		have_slug = false;
	int			n;
	int			i;

	check_row(row);
	errcallback.callback = row_error_context;
	errcallback.arg = row;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;
	n = prepare_row(st, row);

	target.collection = st->collection;
	target.ref_memo = &st->ref_memo;
	target.memo_cxt = st->mcxt;
	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	webflow_jsonb_put_key(&ps, "fieldData");
	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	for (i = 0; i < n; i++)
	{
		const ColumnPlan *c = &st->cols[i];
		JsonbValue *v = &st->values[i];

		target.column = c->column;
		target.slug = c->slug;
		target.field = c->field;
		switch (c->role)
		{
			case ROLE_SKIP:
				break;
			case ROLE_DRAFT:
				draft = flag_value("draft", c, v);
				break;
			case ROLE_ARCHIVED:
				archived = flag_value("archived", c, v);
				break;
			case ROLE_NAME:
				name = push_name(&ps, c, v, &target, &name_len);
				break;
			case ROLE_SLUG:
				if (v->type == jbvNull ||
					(v->type == jbvString && v->val.string.len == 0))
					break;
				if (!valid_slug(v))
					webflow_value_error(ERRCODE_INVALID_PARAMETER_VALUE, &target, v,
										"a slug has only lowercase letters a-z, digits and hyphens",
										"Use webflow.slugify(column) in the query, or leave the slug empty to derive it from the name.");
				webflow_jsonb_put_key(&ps, "slug");
				pushJsonbValue(&ps, WJB_VALUE, v);
				have_slug = true;
				break;
			case ROLE_FIELD:
				webflow_jsonb_put_key(&ps, c->slug);
				if (c->field != NULL)
					webflow_push_field_value(&ps, WJB_VALUE, v, &target);
				else
					webflow_push_plain_value(&ps, WJB_VALUE, v);
				break;
		}
	}
	if (name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("the row has no name column"),
				 errhint("Name a column \"name\" (or \"title\"), or map one with {\"fields\": {\"<column>\": \"name\"}}.")));
	if (!have_slug)
		push_derived_slug(&ps, name, name_len);
	pushJsonbValue(&ps, WJB_END_OBJECT, NULL);

	webflow_jsonb_put_bool(&ps, "isArchived", archived);
	webflow_jsonb_put_bool(&ps, "isDraft", draft);
	if (st->locale != NULL)
		webflow_jsonb_put_string(&ps, "cmsLocaleId", st->locale);
	result = pushJsonbValue(&ps, WJB_END_OBJECT, NULL);

	error_context_stack = errcallback.previous;
	return JsonbValueToJsonb(result);
}

/*
 * webflow_payload_slug returns the slug of an item payload (fieldData.slug),
 * or NULL.
 */
char *
webflow_payload_slug(Jsonb *payload)
{
	JsonbValue *fd = webflow_jsonb_get(payload, "fieldData");

	if (!webflow_jsonb_is_object(fd))
		return NULL;
	return webflow_jsonb_string(webflow_jsonb_container_get(fd->val.binary.data, "slug"));
}

/*
 * webflow_item_payload is webflow.item_payload(row jsonb, options jsonb):
 * the Webflow item of a row.  The parsed options stay in fn_extra while
 * the options datum stays the same.
 */
Datum
webflow_item_payload(PG_FUNCTION_ARGS)
{
	WebflowPayloadState *st = (WebflowPayloadState *) fcinfo->flinfo->fn_extra;
	Jsonb	   *options = PG_ARGISNULL(1) ? NULL : PG_GETARG_JSONB_P(1);

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	if (st == NULL ||
		(options == NULL) != (st->options == NULL) ||
		(options != NULL &&
		 (VARSIZE(options) != VARSIZE(st->options) ||
		  memcmp(options, st->options, VARSIZE(options)) != 0)))
	{
		if (st != NULL)
			MemoryContextDelete(st->mcxt);
		fcinfo->flinfo->fn_extra = NULL;
		st = webflow_payload_prepare(options, fcinfo->flinfo->fn_mcxt);
		fcinfo->flinfo->fn_extra = st;
	}
	PG_RETURN_JSONB_P(webflow_payload_build(st, PG_GETARG_JSONB_P(0)));
}
