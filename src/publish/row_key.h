/*-------------------------------------------------------------------------
 *
 * row_key.h
 *		The key of a row of a bound table (row_key.c), for the publish
 *		trigger, sync() and the worker.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBFLOW_ROW_KEY_H
#define WEBFLOW_ROW_KEY_H

#include "postgres.h"

#include "utils/array.h"
#include "utils/jsonb.h"

extern char *webflow_row_key(Jsonb *row, Datum *keys, int nkeys);
extern Datum *webflow_key_names(ArrayType *keys, int *nkeys);
extern Oid	webflow_row_key_type(Oid typid);
extern char *webflow_row_key_of_value(Oid basetype, Datum value, bool isnull,
									  const char *name);

#endif							/* WEBFLOW_ROW_KEY_H */
