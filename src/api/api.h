/*-------------------------------------------------------------------------
 *
 * api.h
 *		Calling the Webflow API from SQL functions (api.c): one call, its
 *		result or error; pagination and chunks of 100.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBFLOW_API_H
#define WEBFLOW_API_H

#include "postgres.h"

#include "fmgr.h"
#include "nodes/pg_list.h"
#include "utils/array.h"
#include "utils/jsonb.h"

/* How a list of items is checked before it is sent. */
typedef enum WebflowItemsCheck
{
	WEBFLOW_ITEMS_CREATE,		/* each item needs a fieldData object */
	WEBFLOW_ITEMS_UPDATE		/* each item needs a Webflow "id" */
} WebflowItemsCheck;

extern Jsonb *webflow_call(const char *operation, const char *method,
						   const char *path, const char *query,
						   const char *body);

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
