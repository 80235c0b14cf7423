/*-------------------------------------------------------------------------
 *
 * field_coerce.h
 *		A row's value made into the value of a Webflow field, or an error
 *		that names the column and the field (field_coerce.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBFLOW_FIELD_COERCE_H
#define WEBFLOW_FIELD_COERCE_H

#include "postgres.h"

#include "utils/hsearch.h"
#include "utils/jsonb.h"

#include "schema.h"

/* How much of an offending value an error message shows. */
#define WEBFLOW_VALUE_EXCERPT 100

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

extern void webflow_push_plain_value(JsonbParseState **ps,
									 JsonbIteratorToken tok, JsonbValue *v);
extern void webflow_push_field_value(JsonbParseState **ps,
									 JsonbIteratorToken tok, JsonbValue *v,
									 const WebflowValueTarget *target);
extern void webflow_value_error(int sqlstate, const WebflowValueTarget *target,
								JsonbValue *v, const char *problem,
								const char *hint) pg_attribute_noreturn();

#endif							/* WEBFLOW_FIELD_COERCE_H */
