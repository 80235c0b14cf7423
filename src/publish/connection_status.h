/*-------------------------------------------------------------------------
 *
 * connection_status.h
 *		What each connection's request budget looks like now, for
 *		webflow.connections(), webflow.status and webflow.worker_status().
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBFLOW_CONNECTION_STATUS_H
#define WEBFLOW_CONNECTION_STATUS_H

#include "postgres.h"

#include "utils/jsonb.h"

extern void webflow_push_budgets(JsonbParseState **st, const char *key);

#endif							/* WEBFLOW_CONNECTION_STATUS_H */
