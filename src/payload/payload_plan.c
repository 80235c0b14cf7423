/*-------------------------------------------------------------------------
 *
 * payload_plan.c
 *		The planning half of webflow.item_payload: checking and parsing the
 *		options argument once, and deciding once per row shape (the list of
 *		column names) what each column becomes: left out, the name, the
 *		slug, a flag, or a field of fieldData, with its schema field.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "field_coerce.h"
#include "jsonb_util.h"
#include "payload_plan.h"

/* The keys of the options argument, for messages. */
static const char *const option_names =
"fields, exclude, draft, archived, locale, collection";

static void options_error(Jsonb *options, const char *problem, const char *hint)
			pg_attribute_noreturn();
static bool text_equals(JsonbValue *v, const char *s);
static char *option_string(Jsonb *options, JsonbValue *v, const char *name,
						   bool webflow_id);
static FlagOption option_flag(Jsonb *options, JsonbValue *v, const char *name);
static void parse_options(WebflowPayloadState *st, Jsonb *options);
static bool in_exclude(WebflowPayloadState *st, const char *column);
static JsonbValue *renamed(WebflowPayloadState *st, const char *column);
static char *kebab_case(const char *column);
static void check_flag_column(WebflowPayloadState *st, const char *option,
							  const char *column, ColumnRole role);
static void check_plan_against_schema(WebflowPayloadState *st);

/* options_error reports a bad options argument. */
static void
options_error(Jsonb *options, const char *problem, const char *hint)
{
	JsonbValue	root;

	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid webflow.item_payload options: %s", problem),
			 errdetail("The options are %s.",
					   webflow_jsonb_excerpt(webflow_jsonb_root(options, &root),
											 WEBFLOW_VALUE_EXCERPT)),
			 errhint("%s", hint)));
	pg_unreachable();
}

/* text_equals says whether a JSON string equals s. */
static bool
text_equals(JsonbValue *v, const char *s)
{
	return v->type == jbvString && v->val.string.len == strlen(s) &&
		memcmp(v->val.string.val, s, v->val.string.len) == 0;
}

/* option_string reads a string option (NULL for null). */
static char *
option_string(Jsonb *options, JsonbValue *v, const char *name, bool webflow_id)
{
	char	   *s;

	if (v->type == jbvNull)
		return NULL;
	s = webflow_jsonb_string(v);
	if (s == NULL || s[0] == '\0')
		options_error(options, psprintf("\"%s\" must be a non-empty string", name),
					  webflow_id ? "Give a Webflow id, for example from webflow.list_collections(site_id)." :
					  "Give a column name.");
	if (webflow_id && !webflow_is_object_id(s))
		options_error(options, psprintf("\"%s\" is not a Webflow id: %s", name, s),
					  "Webflow ids are 24 lowercase hexadecimal characters.");
	return s;
}

/* option_flag reads draft or archived: a boolean or a column name. */
static FlagOption
option_flag(Jsonb *options, JsonbValue *v, const char *name)
{
	FlagOption	flag = {false, NULL};

	if (v->type == jbvBool)
		flag.value = v->val.boolean;
	else if (v->type == jbvString && v->val.string.len > 0)
		flag.column = webflow_jsonb_string(v);
	else if (v->type != jbvNull)
		options_error(options,
					  psprintf("\"%s\" must be true, false or the name of a boolean column", name),
					  psprintf("For example {\"%s\": true} or {\"%s\": \"is_%s\"}.",
							   name, name, name));
	return flag;
}

/* parse_options checks the options argument and fills the state. */
static void
parse_options(WebflowPayloadState *st, Jsonb *options)
{
	JsonbIterator *it;
	JsonbValue	key;
	JsonbValue	v;
	JsonbIteratorToken tok;

	if (options == NULL)
		return;
	if (!JB_ROOT_IS_OBJECT(options) || JB_ROOT_IS_SCALAR(options))
		options_error(options, "the options must be a JSON object",
					  psprintf("Valid options: %s.", option_names));
	it = JsonbIteratorInit(&options->root);
	while ((tok = JsonbIteratorNext(&it, &key, true)) != WJB_DONE)
	{
		if (tok != WJB_KEY)
			continue;
		(void) JsonbIteratorNext(&it, &v, true);
		if (text_equals(&key, "fields"))
		{
			if (v.type != jbvNull && !webflow_jsonb_is_object(&v))
				options_error(options, "\"fields\" must be an object",
							  "Map columns to field slugs, for example {\"fields\": {\"title\": \"name\", \"secret\": null}}.");
			st->fields = v.type == jbvNull ? NULL : webflow_jsonb_from_value(&v);
		}
		else if (text_equals(&key, "exclude"))
		{
			if (v.type != jbvNull && webflow_jsonb_array_size(&v) < 0)
				options_error(options, "\"exclude\" must be an array of column names",
							  "For example {\"exclude\": [\"id\", \"created_at\"]}.");
			st->exclude = v.type == jbvNull ? NULL : webflow_jsonb_from_value(&v);
		}
		else if (text_equals(&key, "draft"))
			st->draft = option_flag(options, &v, "draft");
		else if (text_equals(&key, "archived"))
			st->archived = option_flag(options, &v, "archived");
		else if (text_equals(&key, "locale"))
			st->locale = option_string(options, &v, "locale", true);
		else if (text_equals(&key, "collection"))
			st->collection = option_string(options, &v, "collection", true);
		else
			options_error(options,
						  psprintf("unknown option \"%.*s\"", key.val.string.len,
								   key.val.string.val),
						  psprintf("Valid options: %s.", option_names));
	}

	/* every value of fields is a slug or null; exclude holds strings */
	if (st->fields != NULL)
	{
		it = JsonbIteratorInit(&st->fields->root);
		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
			if (tok == WJB_VALUE && v.type != jbvNull &&
				(v.type != jbvString || v.val.string.len == 0))
				options_error(options, "each value of \"fields\" must be a field slug or null",
							  "Map a column to a field slug (a string), or to null to leave it out.");
	}
	if (st->exclude != NULL)
	{
		it = JsonbIteratorInit(&st->exclude->root);
		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
			if (tok == WJB_ELEM && v.type != jbvString)
				options_error(options, "\"exclude\" must be an array of column names",
							  "For example {\"exclude\": [\"id\", \"created_at\"]}.");
	}
}

/*
 * webflow_payload_prepare parses options (NULL for none) into a state that
 * lives in a new child of mcxt; references it resolves are remembered for
 * the state's lifetime, so a state should not outlive a statement.
 */
WebflowPayloadState *
webflow_payload_prepare(Jsonb *options, MemoryContext mcxt)
{
	MemoryContext cxt = AllocSetContextCreate(mcxt, "webflow item_payload",
											  ALLOCSET_SMALL_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	WebflowPayloadState *st = palloc0(sizeof(WebflowPayloadState));

	st->mcxt = cxt;
	st->shape_cxt = AllocSetContextCreate(cxt, "webflow item_payload row shape",
										  ALLOCSET_SMALL_SIZES);
	if (options != NULL)
		st->options = (Jsonb *) DatumGetPointer(datumCopy(PointerGetDatum(options),
															  false, -1));
	parse_options(st, st->options);
	MemoryContextSwitchTo(old);
	return st;
}

/* in_exclude says whether the exclude option lists a column. */
static bool
in_exclude(WebflowPayloadState *st, const char *column)
{
	JsonbValue	v;

	if (st->exclude == NULL)
		return false;
	v.type = jbvString;
	v.val.string.val = (char *) column;
	v.val.string.len = strlen(column);
	return findJsonbValueFromContainer(&st->exclude->root, JB_FARRAY, &v) != NULL;
}

/* renamed returns the fields option's entry for a column, or NULL. */
static JsonbValue *
renamed(WebflowPayloadState *st, const char *column)
{
	if (st->fields == NULL)
		return NULL;
	return webflow_jsonb_get(st->fields, column);
}

/* kebab_case turns a column name into a field slug: my_Col -> my-col. */
static char *
kebab_case(const char *column)
{
	char	   *slug = pstrdup(column);
	char	   *p;

	for (p = slug; *p; p++)
	{
		if (*p == '_' || *p == ' ')
			*p = '-';
		else if (*p >= 'A' && *p <= 'Z')
			*p += 'a' - 'A';
	}
	return slug;
}

/*
 * webflow_payload_plan_shape plans the columns of a row (whose keys are in st->keys):
 * what each becomes, and checks them against the schema if any.
 */
void
webflow_payload_plan_shape(WebflowPayloadState *st, int n)
{
	MemoryContext old;
	int			title = -1;
	bool		have_name = false;
	int			i, j;

	st->shape_valid = false;
	MemoryContextReset(st->shape_cxt);
	old = MemoryContextSwitchTo(st->shape_cxt);
	st->cols = palloc0(sizeof(ColumnPlan) * Max(n, 1));
	st->ncols = n;
	for (i = 0; i < n; i++)
	{
		ColumnPlan *c = &st->cols[i];
		JsonbValue *target;

		c->column = pnstrdup(st->keys[i].val.string.val, st->keys[i].val.string.len);
		c->column_len = st->keys[i].val.string.len;
		c->role = ROLE_FIELD;
		if (st->draft.column && strcmp(c->column, st->draft.column) == 0)
			c->role = ROLE_DRAFT;
		else if (st->archived.column && strcmp(c->column, st->archived.column) == 0)
			c->role = ROLE_ARCHIVED;
		else if (in_exclude(st, c->column))
			c->role = ROLE_SKIP;
		else if ((target = renamed(st, c->column)) != NULL)
		{
			if (target->type == jbvNull)
				c->role = ROLE_SKIP;
			else
				c->slug = webflow_jsonb_string(target);
		}
		else
		{
			c->slug = kebab_case(c->column);
			if (strcmp(c->column, "title") == 0)
				title = i;
		}
		if (c->role == ROLE_FIELD && strcmp(c->slug, "name") == 0)
			c->role = ROLE_NAME, have_name = true;
		else if (c->role == ROLE_FIELD && strcmp(c->slug, "slug") == 0)
			c->role = ROLE_SLUG;
	}
	/* without a name column, a title column is the name */
	if (!have_name && title >= 0 &&
		(st->schema == NULL || webflow_schema_field(st->schema, "title", 5) == NULL))
	{
		st->cols[title].role = ROLE_NAME;
		st->cols[title].slug = "name";
	}
	check_flag_column(st, "draft", st->draft.column, ROLE_DRAFT);
	check_flag_column(st, "archived", st->archived.column, ROLE_ARCHIVED);
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			if (st->cols[i].slug && st->cols[j].slug &&
				st->cols[i].role != ROLE_SKIP && st->cols[j].role != ROLE_SKIP &&
				strcmp(st->cols[i].slug, st->cols[j].slug) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("columns \"%s\" and \"%s\" both map to Webflow field \"%s\"",
								st->cols[i].column, st->cols[j].column, st->cols[i].slug),
						 errhint("Leave one out with {\"exclude\": [\"%s\"]}, or map it elsewhere with \"fields\".",
								 st->cols[j].column)));
	if (st->schema != NULL)
		check_plan_against_schema(st);
	MemoryContextSwitchTo(old);
	st->shape_valid = true;
}

/* check_flag_column checks that the row has the column a flag names. */
static void
check_flag_column(WebflowPayloadState *st, const char *option,
				  const char *column, ColumnRole role)
{
	int			i;

	if (column == NULL)
		return;
	for (i = 0; i < st->ncols; i++)
		if (st->cols[i].role == role)
			return;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("option \"%s\" names column \"%s\", which the row does not have",
					option, column),
			 errhint("Name a boolean column of the row, or give true or false.")));
}

/*
 * check_plan_against_schema finds each planned column's field and checks
 * that the row has every required field.
 */
static void
check_plan_against_schema(WebflowPayloadState *st)
{
	const WebflowSchema *schema = st->schema;
	int			i, j;

	for (i = 0; i < st->ncols; i++)
	{
		ColumnPlan *c = &st->cols[i];

		if (c->role != ROLE_FIELD && c->role != ROLE_NAME && c->role != ROLE_SLUG)
			continue;
		c->field = webflow_schema_field(schema, c->slug, strlen(c->slug));
		if (c->field == NULL)
		{
			StringInfoData slugs;

			initStringInfo(&slugs);
			for (j = 0; j < schema->nfields; j++)
				if (schema->fields[j].editable)
					appendStringInfo(&slugs, "%s%s", slugs.len ? ", " : "",
									 schema->fields[j].slug);
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("column \"%s\" maps to \"%s\", which is no field of Webflow collection %s",
							c->column, c->slug, schema->collection_id),
					 errdetail("The collection's fields are: %s.", slugs.data),
					 errhint("Map the column with {\"fields\": {\"%s\": \"<field slug>\"}}, or leave it out with {\"exclude\": [\"%s\"]}.",
							 c->column, c->column)));
		}
		if (!c->field->editable)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("column \"%s\" maps to Webflow field \"%s\", which is read-only",
							c->column, c->slug),
					 errhint("Leave the column out with {\"exclude\": [\"%s\"]}.",
							 c->column)));
	}
	for (j = 0; j < schema->nfields; j++)
	{
		const WebflowField *f = &schema->fields[j];
		bool		found = (strcmp(f->slug, "slug") == 0);

		for (i = 0; i < st->ncols && !found; i++)
			found = (st->cols[i].field == f);
		if (f->required && f->editable && !found)
			ereport(ERROR,
					(errcode(ERRCODE_NOT_NULL_VIOLATION),
					 errmsg("required field \"%s\" of Webflow collection %s has no column",
							f->slug, schema->collection_id),
					 errhint("Add a column named %s, or map one to it with {\"fields\": {\"<column>\": \"%s\"}}.",
							 f->slug, f->slug)));
	}
}

