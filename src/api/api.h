/*-------------------------------------------------------------------------
 *
 * api.h
 *		Calling the Webflow API from SQL functions: argument checks, URL
 *		building, error reporting, pagination and chunking.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBFLOW_API_H
#define WEBFLOW_API_H

#include "postgres.h"

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "utils/array.h"
#include "utils/jsonb.h"

#include "http.h"

/* How a list of items is checked before it is sent. */
typedef enum WebflowItemsCheck
{
	WEBFLOW_ITEMS_CREATE,		/* each item needs a fieldData object */
	WEBFLOW_ITEMS_UPDATE		/* each item needs a Webflow "id" */
} WebflowItemsCheck;

extern char *webflow_id_arg(FunctionCallInfo fcinfo, int argno,
							const char *argname);
extern char *webflow_text_arg(FunctionCallInfo fcinfo, int argno,
							  const char *argname);
extern void webflow_append_escaped(StringInfo buf, const char *s);
extern void webflow_query_add(StringInfo query, const char *name,
							  const char *value);
extern void webflow_query_from_jsonb(StringInfo query, Jsonb *params,
									 const char *argname);

extern Jsonb *webflow_call(const char *operation, const char *method,
						   const char *path, const char *query,
						   const char *body);
extern char *webflow_excerpt(const char *text);
extern char *webflow_describe_failure(WebflowHttpResult *result);
extern void webflow_report_failure(const char *operation,
								   WebflowHttpResult *result);

extern void webflow_return_list(FunctionCallInfo fcinfo, const char *operation,
								const char *path, const char *query,
								const char *list_key, bool paginated);
extern void webflow_return_item_chunks(FunctionCallInfo fcinfo,
									   const char *operation,
									   const char *method, const char *path,
									   const char *query, Jsonb *items,
									   WebflowItemsCheck check);
extern int64 webflow_send_id_chunks(const char *operation, const char *method,
									const char *path, ArrayType *ids,
									const char *argname, bool as_item_ids,
									List **responses);

/* Return a jsonb result, or SQL NULL when the response had no body. */
#define WEBFLOW_RETURN_JSONB(expr) \
	do { \
		Jsonb	   *result_ = (expr); \
		if (result_ == NULL) \
			PG_RETURN_NULL(); \
		PG_RETURN_JSONB_P(result_); \
	} while (0)

#endif							/* WEBFLOW_API_H */
