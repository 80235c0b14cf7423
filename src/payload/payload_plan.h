/*-------------------------------------------------------------------------
 *
 * payload_plan.h
 *		The state of item_payload (payload_plan.c: parsing options, planning
 *		the columns of a row), which payload.c builds items with.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBFLOW_PAYLOAD_PLAN_H
#define WEBFLOW_PAYLOAD_PLAN_H

#include "postgres.h"

#include "utils/hsearch.h"
#include "utils/jsonb.h"

#include "schema.h"

/* What a column of the row becomes. */
typedef enum ColumnRole
{
	ROLE_SKIP,					/* left out */
	ROLE_FIELD,					/* a field of fieldData */
	ROLE_NAME,					/* fieldData.name */
	ROLE_SLUG,					/* fieldData.slug, when not empty */
	ROLE_DRAFT,					/* isDraft */
	ROLE_ARCHIVED				/* isArchived */
} ColumnRole;

/* The plan for one column of the current row shape. */
typedef struct ColumnPlan
{
	char	   *column;
	int			column_len;
	ColumnRole	role;
	char	   *slug;			/* fieldData key */
	const WebflowField *field;	/* NULL without a schema */
} ColumnPlan;

/* A flag option: a constant, or the name of a boolean column. */
typedef struct FlagOption
{
	bool		value;
	char	   *column;
} FlagOption;

/* The options of item_payload, planned; payload.c builds items with it. */
typedef struct WebflowPayloadState WebflowPayloadState;

struct WebflowPayloadState
{
	MemoryContext mcxt;			/* holds this state */
	MemoryContext shape_cxt;	/* holds the row-shape plan */
	Jsonb	   *options;		/* a copy, to recognise the same options */
	/* the options */
	Jsonb	   *fields;			/* {"column": "slug" | null} or NULL */
	Jsonb	   *exclude;		/* ["column", …] or NULL */
	FlagOption	draft;
	FlagOption	archived;
	char	   *locale;
	char	   *collection;
	/* the schema of the collection, valid while schema_generation holds */
	WebflowSchema *schema;
	uint64		schema_generation;
	/* the plan of the last row shape */
	bool		shape_valid;
	int			ncols;
	ColumnPlan *cols;
	/* scratch space for a row's values */
	int			capacity;
	JsonbValue *keys;
	JsonbValue *values;
	/* references resolved in this statement */
	HTAB	   *ref_memo;
};

extern WebflowPayloadState *webflow_payload_prepare(Jsonb *options,
													MemoryContext mcxt);
extern void webflow_payload_plan_shape(WebflowPayloadState *st, int n);

#endif							/* WEBFLOW_PAYLOAD_PLAN_H */
