/*-------------------------------------------------------------------------
 *
 * payload.h
 *		Turning table rows (jsonb) into Webflow item payloads (payload.c),
 *		with a state that payload_plan.c prepares from the options.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBFLOW_PAYLOAD_H
#define WEBFLOW_PAYLOAD_H

#include "postgres.h"

#include "fmgr.h"
#include "utils/jsonb.h"

#include "payload_plan.h"

extern Jsonb *webflow_payload_build(WebflowPayloadState *state, Jsonb *row);
extern char *webflow_payload_slug_of(WebflowPayloadState *state, Jsonb *row);
extern char *webflow_payload_name_of(WebflowPayloadState *state, Jsonb *row);
extern char *webflow_payload_slug(Jsonb *payload);
extern Datum webflow_item_payload(PG_FUNCTION_ARGS);

#endif							/* WEBFLOW_PAYLOAD_H */
