/*-------------------------------------------------------------------------
 *
 * webflow.h
 *		Settings and error codes shared by every part of the webflow
 *		extension.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBFLOW_H
#define WEBFLOW_H

#include "postgres.h"

#ifndef EXTVERSION
#error "EXTVERSION must be defined by the Makefile"
#endif

#define WEBFLOW_USER_AGENT "webflow-postgresql/" EXTVERSION
#define WEBFLOW_DEFAULT_API_URL "https://api.webflow.com/v2"

/* Most items the Webflow API takes in one bulk request. */
#define WEBFLOW_MAX_BATCH 100

/*
 * SQLSTATEs of our own, class WF.  The number after WF follows the HTTP
 * status family so that a user can tell them apart at a glance.
 */
#define ERRCODE_WEBFLOW_NETWORK			MAKE_SQLSTATE('W','F','0','0','0')
#define ERRCODE_WEBFLOW_CLIENT_ERROR	MAKE_SQLSTATE('W','F','4','0','0')
#define ERRCODE_WEBFLOW_AUTH			MAKE_SQLSTATE('W','F','4','0','1')
#define ERRCODE_WEBFLOW_FORBIDDEN		MAKE_SQLSTATE('W','F','4','0','3')
#define ERRCODE_WEBFLOW_NOT_FOUND		MAKE_SQLSTATE('W','F','4','0','4')
#define ERRCODE_WEBFLOW_TIMEOUT			MAKE_SQLSTATE('W','F','4','0','8')
#define ERRCODE_WEBFLOW_CONFLICT		MAKE_SQLSTATE('W','F','4','0','9')
#define ERRCODE_WEBFLOW_RATE_LIMITED	MAKE_SQLSTATE('W','F','4','2','9')
#define ERRCODE_WEBFLOW_SERVER_ERROR	MAKE_SQLSTATE('W','F','5','0','0')
#define ERRCODE_WEBFLOW_BAD_RESPONSE	MAKE_SQLSTATE('W','F','5','0','2')

/* GUC variables, defined in webflow.c */
extern char *webflow_api_url;
extern char *webflow_token;
extern char *webflow_token_file;
extern int	webflow_timeout_ms;
extern int	webflow_connect_timeout_ms;
extern char *webflow_ca_bundle;
extern char *webflow_database_name;
extern bool webflow_worker_enabled;
extern int	webflow_naptime_s;
extern int	webflow_batch_size;
extern int	webflow_rate_limit;
extern int	webflow_max_connections;

/* The highest rate_limit (requests per minute) of a connection. */
#define WEBFLOW_MAX_RATE_LIMIT 100000
extern int	webflow_max_attempts;
extern char *webflow_connection_name;

extern void webflow_define_settings(void);
extern const char *webflow_api_url_problem(const char *url, const char **hint);

#endif							/* WEBFLOW_H */
