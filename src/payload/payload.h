/*-------------------------------------------------------------------------
 *
 * payload.h
 *		Turning table rows (jsonb) into Webflow item payloads: the types
 *		shared by payload.c (options, rows, items), field_coerce.c (values)
 *		and schema_cache.c (collection field schemas, the item map).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBFLOW_PAYLOAD_H
#define WEBFLOW_PAYLOAD_H

#include "postgres.h"

#include "fmgr.h"
#include "utils/hsearch.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "value_parse.h"

/* How much of an offending value an error message shows. */
#define WEBFLOW_VALUE_EXCERPT 100

/* The field types of Webflow CMS collections (Get Collection "type"). */
typedef enum WebflowFieldType
{
	WF_PLAIN_TEXT,
	WF_RICH_TEXT,
	WF_EMAIL,
	WF_PHONE,
	WF_LINK,
	WF_VIDEO_LINK,
	WF_NUMBER,
	WF_SWITCH,
	WF_DATETIME,
	WF_COLOR,
	WF_OPTION,
	WF_IMAGE,
	WF_FILE,
	WF_MULTI_IMAGE,
	WF_REFERENCE,
	WF_MULTI_REFERENCE,
	WF_USER,
	WF_OTHER					/* ExtFileRef or a type we do not know */
} WebflowFieldType;

/* One choice of an Option field. */
typedef struct WebflowOption
{
	char	   *name;
	char	   *id;
} WebflowOption;

/* One field of a collection, with the validations we enforce. */
typedef struct WebflowField
{
	char	   *slug;
	char	   *type_name;		/* as Webflow spells it, for messages */
	WebflowFieldType type;
	bool		required;
	bool		editable;
	/* Number */
	bool		integer_only;
	bool		no_negative;
	bool		no_zero;
	Numeric		min_value;		/* NULL when not limited */
	Numeric		max_value;
	/* text types */
	int			max_length;		/* in characters; -1 when not limited */
	bool		single_line;
	/* Option */
	int			noptions;
	WebflowOption *options;
	/* Reference and MultiReference: the referenced collection */
	char	   *ref_collection;
} WebflowField;

/* The field schema of one collection, as cached by schema_cache.c. */
typedef struct WebflowSchema
{
	char		collection_id[WEBFLOW_ID_LEN + 1];
	int			nfields;
	WebflowField *fields;
} WebflowSchema;

/* Where a value comes from and goes to, for coercion and its errors. */
typedef struct WebflowValueTarget
{
	const char *column;			/* column of the row */
	const char *slug;			/* field slug in fieldData */
	const char *collection;		/* collection id, NULL without a schema */
	const WebflowField *field;	/* NULL without a schema */
	HTAB	  **ref_memo;		/* resolved references, per statement */
	MemoryContext memo_cxt;		/* where ref_memo lives */
} WebflowValueTarget;

/* payload.c: build items from rows (also for the publish worker) */
typedef struct WebflowPayloadState WebflowPayloadState;

extern WebflowPayloadState *webflow_payload_prepare(Jsonb *options,
													MemoryContext mcxt);
extern Jsonb *webflow_payload_build(WebflowPayloadState *state, Jsonb *row);
extern char *webflow_payload_slug_of(WebflowPayloadState *state, Jsonb *row);
extern Datum webflow_item_payload(PG_FUNCTION_ARGS);

/* field_coerce.c: values */
extern void webflow_push_plain_value(JsonbParseState **ps,
									 JsonbIteratorToken tok, JsonbValue *v);
extern void webflow_push_field_value(JsonbParseState **ps,
									 JsonbIteratorToken tok, JsonbValue *v,
									 const WebflowValueTarget *target);
extern void webflow_value_error(int sqlstate, const WebflowValueTarget *target,
								JsonbValue *v, const char *problem,
								const char *hint) pg_attribute_noreturn();

/* schema_cache.c: the collection_fields cache and the item map */
extern WebflowSchema *webflow_schema_get(const char *collection_id);
extern WebflowSchema *webflow_schema_cached(const char *collection_id);
extern uint64 webflow_schema_generation(void);
extern const WebflowField *webflow_schema_field(const WebflowSchema *schema,
												const char *slug, int len);
extern Oid	webflow_set_reference_owner(Oid owner);
extern char *webflow_item_lookup(const char *collection_id,
								 const char *source_key);
extern Datum webflow_refresh_schema(PG_FUNCTION_ARGS);
extern Datum webflow_collection_fields_changed(PG_FUNCTION_ARGS);

#endif							/* WEBFLOW_PAYLOAD_H */
