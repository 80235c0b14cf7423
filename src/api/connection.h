/*-------------------------------------------------------------------------
 *
 * connection.h
 *		Named Webflow connections: foreign servers of the webflow wrapper,
 *		each with its API URL, and a token per user mapping.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBFLOW_CONNECTION_H
#define WEBFLOW_CONNECTION_H

#include "postgres.h"

/* Where requests go, and with which token. */
typedef struct WebflowConnection
{
	const char *name;			/* the server's name; "" for the default */
	const char *api_url;		/* base URL of the API */
	const char *token;			/* NULL when there is none (see problem) */
	const char *problem;		/* why there is no token */
} WebflowConnection;

extern void webflow_connection_resolve(const char *name, Oid role,
									   WebflowConnection *conn);
extern void webflow_connection_current(WebflowConnection *conn);
extern void webflow_connection_default_only(void);
extern bool webflow_connection_force_default(bool force);

#endif							/* WEBFLOW_CONNECTION_H */
