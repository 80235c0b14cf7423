/*-------------------------------------------------------------------------
 *
 * schema.h
 *		The field schema of a Webflow collection, as data (schema.c): the
 *		fields, their types and the validations we enforce.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBFLOW_SCHEMA_H
#define WEBFLOW_SCHEMA_H

#include "postgres.h"

#include "utils/jsonb.h"
#include "utils/numeric.h"

#include "value_parse.h"

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

extern void webflow_field_init(WebflowField *f, char *slug, char *type_name,
							   bool required, bool editable,
							   Jsonb *validations);
extern const WebflowField *webflow_schema_field(const WebflowSchema *schema,
												const char *slug, int len);

#endif							/* WEBFLOW_SCHEMA_H */
