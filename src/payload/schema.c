/*-------------------------------------------------------------------------
 *
 * schema.c
 *		The field schema of a Webflow collection, as data: a field made
 *		from what Webflow says of it (its type and validations), and the
 *		lookup of a field by slug.  No I/O: schema_cache.c reads and
 *		writes the schemas, api_schema.c fetches them from Webflow.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/datum.h"

#include "jsonb_util.h"
#include "schema.h"

/* Webflow's names of the field types. */
static const struct
{
	const char *name;
	WebflowFieldType type;
}			field_types[] =
{
	{"PlainText", WF_PLAIN_TEXT},
	{"RichText", WF_RICH_TEXT},
	{"Email", WF_EMAIL},
	{"Phone", WF_PHONE},
	{"Link", WF_LINK},
	{"VideoLink", WF_VIDEO_LINK},
	{"Number", WF_NUMBER},
	{"Switch", WF_SWITCH},
	{"DateTime", WF_DATETIME},
	{"Color", WF_COLOR},
	{"Option", WF_OPTION},
	{"Image", WF_IMAGE},
	{"File", WF_FILE},
	{"MultiImage", WF_MULTI_IMAGE},
	{"Reference", WF_REFERENCE},
	{"MultiReference", WF_MULTI_REFERENCE},
	{"User", WF_USER},
};

static void parse_options(WebflowField *f, JsonbValue *v);
static void parse_validations(WebflowField *f, Jsonb *validations);

/* parse_options reads the choices of an Option field. */
static void
parse_options(WebflowField *f, JsonbValue *v)
{
	int			n = Max(webflow_jsonb_array_size(v), 0);
	int			i;

	f->options = palloc0(sizeof(WebflowOption) * (n + 1));
	f->noptions = 0;
	for (i = 0; i < n; i++)
	{
		JsonbValue *option = webflow_jsonb_array_element(v, i);
		char	   *name;
		char	   *id;

		if (!webflow_jsonb_is_object(option))
			continue;
		name = webflow_jsonb_string(webflow_jsonb_container_get(option->val.binary.data, "name"));
		id = webflow_jsonb_string(webflow_jsonb_container_get(option->val.binary.data, "id"));
		/* an option without a name or an id cannot be matched or sent */
		if (name == NULL || id == NULL)
			continue;
		f->options[f->noptions].name = name;
		f->options[f->noptions].id = id;
		f->noptions++;
	}
}

/* parse_validations reads the validations we enforce into a field. */
static void
parse_validations(WebflowField *f, Jsonb *validations)
{
	JsonbValue *v;

	if (validations == NULL || !JB_ROOT_IS_OBJECT(validations))
		return;
	v = webflow_jsonb_get(validations, "format");
	f->integer_only = (v != NULL && v->type == jbvString &&
					   strncmp(v->val.string.val, "integer", v->val.string.len) == 0 &&
					   v->val.string.len == 7);
	v = webflow_jsonb_get(validations, "allowNegative");
	f->no_negative = (v != NULL && v->type == jbvBool && !v->val.boolean);
	v = webflow_jsonb_get(validations, "allowZero");
	f->no_zero = (v != NULL && v->type == jbvBool && !v->val.boolean);
	v = webflow_jsonb_get(validations, "minValue");
	if (v != NULL && v->type == jbvNumeric)
		f->min_value = DatumGetNumeric(datumCopy(NumericGetDatum(v->val.numeric),
													  false, -1));
	v = webflow_jsonb_get(validations, "maxValue");
	if (v != NULL && v->type == jbvNumeric)
		f->max_value = DatumGetNumeric(datumCopy(NumericGetDatum(v->val.numeric),
													  false, -1));
	v = webflow_jsonb_get(validations, "maxLength");
	if (v != NULL && v->type == jbvNumeric)
	{
		/* a limit beyond what a string can reach is no limit */
		double		len = DatumGetFloat8(DirectFunctionCall1(numeric_float8,
															 NumericGetDatum(v->val.numeric)));

		f->max_length = (len >= 0 && len < (double) PG_INT32_MAX) ? (int) len : -1;
	}
	v = webflow_jsonb_get(validations, "singleLine");
	f->single_line = (v != NULL && v->type == jbvBool && v->val.boolean);
	f->ref_collection = webflow_jsonb_string(webflow_jsonb_get(validations, "collectionId"));
	parse_options(f, webflow_jsonb_get(validations, "options"));
}

/*
 * webflow_field_init fills a zeroed field from a row of
 * webflow.collection_fields: its slug, Webflow's name of its type, whether
 * it is required and editable, and its validations (NULL for none).  What
 * it allocates is in the current memory context.
 */
void
webflow_field_init(WebflowField *f, char *slug, char *type_name,
				   bool required, bool editable, Jsonb *validations)
{
	int			t;

	f->slug = slug;
	f->type_name = type_name;
	f->type = WF_OTHER;
	for (t = 0; t < lengthof(field_types); t++)
		if (strcmp(type_name, field_types[t].name) == 0)
			f->type = field_types[t].type;
	f->required = required;
	f->editable = editable;
	f->max_length = -1;
	parse_validations(f, validations);
}

/* webflow_schema_field finds a field by slug, or returns NULL. */
const WebflowField *
webflow_schema_field(const WebflowSchema *schema, const char *slug, int len)
{
	int			i;

	for (i = 0; i < schema->nfields; i++)
	{
		const WebflowField *f = &schema->fields[i];

		if (strncmp(f->slug, slug, len) == 0 && f->slug[len] == '\0')
			return f;
	}
	return NULL;
}
