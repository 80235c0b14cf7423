/*-------------------------------------------------------------------------
 *
 * request.h
 *		The state of a pass's sending and the request helpers of request.c,
 *		shared by send.c (grouping, chunking, splitting) and adopt.c
 *		(lookups by slug, adoption, recreation).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBFLOW_REQUEST_H
#define WEBFLOW_REQUEST_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "lib/stringinfo.h"

#include "http.h"
#include "publish.h"

/* How one request ended, for the code that sent it. */
typedef enum RequestClass
{
	REQ_OK,
	REQ_CLIENT_ERROR,			/* 4xx other than 401/403/429 */
	REQ_RETRY,					/* 5xx, timeout, network: try later */
	REQ_STOP					/* paused or canceled: send nothing more */
} RequestClass;

/* State of one call of webflow_send_changes. */
typedef struct SendState
{
	PassOptions *opts;
	const WebflowConnection *conn;	/* the connection of the group being sent */
	bool		stop;			/* that connection is paused, or shutdown */
	bool		shutdown;		/* canceled, or the extension is gone */
	List	   *stopped;		/* keys (uint64 *) of paused connections */
	List	   *followups;		/* adopted or recreated changes */
	List	   *changes;		/* every change of the pass */
	TimestampTz extension_checked_at;	/* see extension_dropped() */
} SendState;

/* What kind of request a group of changes needs. */
typedef enum GroupKind
{
	GROUP_CREATE,
	GROUP_UPDATE,
	GROUP_UNPUBLISH,
	GROUP_DELETE,
	GROUP_ARCHIVE,
	GROUP_RELEASE				/* staged PATCH of the slug alone */
} GroupKind;

extern bool webflow_connection_stopped(SendState *ss, Binding *b);
extern void webflow_use_connection(SendState *ss, Binding *b);
extern RequestClass webflow_send_request(SendState *ss, const char *method,
										 const char *path, const char *query,
										 const char *body,
										 WebflowHttpResult *result);
extern ChangeOutcome webflow_retry_outcome(const WebflowHttpResult *result);
extern void webflow_settle(Change **cs, int n, ChangeOutcome outcome,
						   WebflowHttpResult *result, bool unknown);
extern char *webflow_items_path(Binding *b, bool live, const char *suffix);
extern char *webflow_released_slug(const char *slug, const char *item_id);
extern void webflow_push_update_item(JsonbParseState **st, Change *c,
									 bool archive_only, bool release_only);
extern void webflow_chunk_succeeded(Change **cs, int n, GroupKind kind,
									Jsonb *response);

#endif							/* WEBFLOW_REQUEST_H */
