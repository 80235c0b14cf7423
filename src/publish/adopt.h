/*-------------------------------------------------------------------------
 *
 * adopt.h
 *		Settling the changes Webflow did not simply accept (adopt.c): lone
 *		failures, and creates whose earlier outcome is unknown.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBFLOW_ADOPT_H
#define WEBFLOW_ADOPT_H

#include "postgres.h"

#include "http.h"
#include "publish.h"
#include "request.h"

extern void webflow_lone_failure(SendState *ss, Change *c, GroupKind kind,
								 WebflowHttpResult *result);
extern void webflow_resolve_unknown(SendState *ss, Change **cs, int n);

#endif							/* WEBFLOW_ADOPT_H */
