/*-------------------------------------------------------------------------
 *
 * api_schema.h
 *		Fetching the field schema of a collection from Webflow into the
 *		schema cache (api_schema.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBFLOW_API_SCHEMA_H
#define WEBFLOW_API_SCHEMA_H

#include "postgres.h"

#include "fmgr.h"

extern void webflow_schema_fetch(const char *collection_id);
extern Datum webflow_refresh_schema(PG_FUNCTION_ARGS);

#endif							/* WEBFLOW_API_SCHEMA_H */
