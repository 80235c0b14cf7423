/*-------------------------------------------------------------------------
 *
 * api_errors.h
 *		A failed request described, or raised as an error with a SQLSTATE
 *		of class WF (api_errors.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBFLOW_API_ERRORS_H
#define WEBFLOW_API_ERRORS_H

#include "postgres.h"

#include "http.h"

extern char *webflow_excerpt(const char *text);
extern char *webflow_describe_failure(WebflowHttpResult *result);
extern void webflow_report_failure(const char *operation,
								   WebflowHttpResult *result);

#endif							/* WEBFLOW_API_ERRORS_H */
