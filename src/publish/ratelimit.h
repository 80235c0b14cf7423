/*-------------------------------------------------------------------------
 *
 * ratelimit.h
 *		One request budget for the worker and every drain() caller.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBFLOW_RATELIMIT_H
#define WEBFLOW_RATELIMIT_H

#include "postgres.h"

#include "http.h"

extern bool webflow_rate_acquire(int max_wait_ms, char **why);
extern void webflow_rate_observe(WebflowHttpResult *result);
extern bool webflow_auth_paused(char **reason);
extern void webflow_auth_pause(const char *reason);
extern char *webflow_auth_pause_reason(void);
extern void webflow_auth_resume(void);
extern uint64 webflow_config_hash(void);
extern void webflow_outage_observe(bool ok);
extern double webflow_outage_delay(void);

#endif							/* WEBFLOW_RATELIMIT_H */
