/*-------------------------------------------------------------------------
 *
 * payload.h
 *		Turning table rows (jsonb) into Webflow item payloads: the types
 *		shared by payload.c (options, rows, items) and field_coerce.c
 *		(values).
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

#include "schema.h"
#include "value_parse.h"

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

#endif							/* WEBFLOW_PAYLOAD_H */
