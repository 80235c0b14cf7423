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

#include "run_as.h"

/* Where requests go, and with which token. */
typedef struct WebflowConnection
{
	const char *name;			/* the server's name; "" for the default */
	const char *api_url;		/* base URL of the API */
	const char *token;			/* NULL when there is none (see problem) */
	const char *problem;		/* why there is no token */
	int			rate_limit;		/* requests per minute */
	Oid			server_owner;	/* InvalidOid for the default connection */
} WebflowConnection;

/* Why a role may not use a connection: an error to raise or to report. */
typedef struct ConnectionRefusal
{
	int			sqlstate;
	char	   *message;
	char	   *detail;
	char	   *hint;
} ConnectionRefusal;

extern bool webflow_connection_lookup(const char *name, Oid role,
									  WebflowConnection *conn,
									  ConnectionRefusal *why);
extern void webflow_connection_resolve(const char *name, Oid role,
									   WebflowConnection *conn);
extern uint64 webflow_connection_key(const WebflowConnection *conn);
extern WebflowPin webflow_connection_pin(const WebflowConnection *conn);
extern void webflow_connection_unpin(WebflowPin was);
extern void webflow_connection_current(WebflowConnection *conn);
extern void webflow_connection_default_only(void);
extern bool webflow_connection_force_default(bool force);

#endif							/* WEBFLOW_CONNECTION_H */
