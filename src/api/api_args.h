/*-------------------------------------------------------------------------
 *
 * api_args.h
 *		The arguments of the API's SQL functions, checked, and the query
 *		strings made of them (api_args.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBFLOW_API_ARGS_H
#define WEBFLOW_API_ARGS_H

#include "postgres.h"

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/jsonb.h"

extern char *webflow_id_arg(FunctionCallInfo fcinfo, int argno,
							const char *argname);
extern char *webflow_text_arg(FunctionCallInfo fcinfo, int argno,
							  const char *argname);
extern void webflow_append_escaped(StringInfo buf, const char *s);
extern void webflow_query_add(StringInfo query, const char *name,
							  const char *value);
extern void webflow_query_from_jsonb(StringInfo query, Jsonb *params,
									 const char *argname);

#endif							/* WEBFLOW_API_ARGS_H */
