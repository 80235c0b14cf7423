/*-------------------------------------------------------------------------
 *
 * schema_cache.h
 *		The field schemas of collections, cached in
 *		webflow.collection_fields and in each backend (schema_cache.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBFLOW_SCHEMA_CACHE_H
#define WEBFLOW_SCHEMA_CACHE_H

#include "postgres.h"

#include "fmgr.h"
#include "utils/jsonb.h"

#include "schema.h"

/* Fetches a collection's schema from Webflow and stores it, or fails. */
typedef void (*WebflowSchemaFetch) (const char *collection_id);

extern void webflow_schema_set_fetch(WebflowSchemaFetch fetch);
extern WebflowSchema *webflow_schema_get(const char *collection_id);
extern WebflowSchema *webflow_schema_cached(const char *collection_id);
extern uint64 webflow_schema_generation(void);
extern int	webflow_schema_store(const char *collection_id, Jsonb *fields);
extern Datum webflow_collection_fields_changed(PG_FUNCTION_ARGS);

#endif							/* WEBFLOW_SCHEMA_CACHE_H */
