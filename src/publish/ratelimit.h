/*-------------------------------------------------------------------------
 *
 * ratelimit.h
 *		The request budget of each connection, for the worker and every
 *		drain() caller.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBFLOW_RATELIMIT_H
#define WEBFLOW_RATELIMIT_H

#include "postgres.h"

#include "connection.h"
#include "http.h"
#include "shmem.h"

extern TimestampTz webflow_rate_next_slot(const WebflowConnection *conn);
extern void webflow_rate_observe(const WebflowConnection *conn,
								 WebflowHttpResult *result);
extern void webflow_auth_pause(const WebflowConnection *conn, const char *reason);
extern void webflow_auth_resume(void);
extern TimestampTz webflow_take_resume_horizon(void);
extern void webflow_outage_observe(const WebflowConnection *conn, bool ok);
extern double webflow_outage_delay(const WebflowConnection *conn);
extern void webflow_outage_pause(const WebflowConnection *conn, const char *why);
extern bool webflow_budget_ready(const WebflowConnection *conn, int max_wait_ms);
extern double webflow_budget_resume_in(const WebflowConnection *conn);
extern bool webflow_budget_report(const char *name, WebflowBudget *copy);
extern bool webflow_budget_report_of(const WebflowConnection *conn, WebflowBudget *copy);
extern int	webflow_budgets_copy(WebflowBudget **copies);
extern const char *webflow_budget_pause_reason(const WebflowBudget *b, TimestampTz now);

#endif							/* WEBFLOW_RATELIMIT_H */
