/*-------------------------------------------------------------------------
 *
 * http.h
 *		The extension's HTTP client: one reusable libcurl handle per process.
 *
 * webflow_http_send() never raises an error for anything that happens on
 * the network: it fills a WebflowHttpResult that says what happened, so
 * that the SQL functions can raise a precise error and the background
 * worker can decide to retry.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBFLOW_HTTP_H
#define WEBFLOW_HTTP_H

#include "postgres.h"

#include <signal.h>

#include "datatype/timestamp.h"

/* What became of one request. */
typedef enum WebflowHttpOutcome
{
	WEBFLOW_HTTP_RESPONSE,		/* a response arrived, any status */
	WEBFLOW_HTTP_CANCELED,		/* aborted by cancel, termination or shutdown */
	WEBFLOW_HTTP_TIMEOUT,		/* webflow.timeout or connect_timeout elapsed */
	WEBFLOW_HTTP_NETWORK_ERROR, /* resolve, connect, TLS or transfer failed */
	WEBFLOW_HTTP_TOO_LARGE		/* the response body passed the size limit */
} WebflowHttpOutcome;

/* The result of webflow_http_send(); strings are palloc'd. */
typedef struct WebflowHttpResult
{
	WebflowHttpOutcome outcome;
	long		status;			/* HTTP status, 0 when no response */
	char	   *body;			/* response body in the server encoding */
	size_t		body_len;
	const char *phase;			/* phase that failed: resolve, connect, ... */
	char	   *error;			/* libcurl's description of a failure */
	double		elapsed_ms;		/* total time spent */
	bool		maybe_delivered;	/* request may have reached the server */
	bool		reconnected;	/* a kept-alive connection was replaced: libcurl
								 * may have sent the request twice */
	int			retry_after_s;	/* Retry-After, -1 when absent */
	int			ratelimit_limit;	/* X-RateLimit-Limit, -1 when absent */
	int			ratelimit_remaining;	/* X-RateLimit-Remaining, -1 when
										 * absent */
} WebflowHttpResult;

/* Rate-limit headers of the newest response this process received. */
typedef struct WebflowRateInfo
{
	int			limit;
	int			remaining;
	int			retry_after_s;
	TimestampTz received_at;
} WebflowRateInfo;

extern WebflowRateInfo webflow_last_rate_info;

/* Set (for example by a signal handler) to abort the request in flight. */
extern volatile sig_atomic_t webflow_http_abort_pending;

/* Set by the worker: a ProcSignalBarrier (DROP DATABASE) aborts too. */
extern bool webflow_http_abort_on_barrier;

extern void webflow_http_send(const char *method, const char *path_and_query,
							  const char *body, WebflowHttpResult *result);
extern long webflow_http_connections_opened(void);

#endif							/* WEBFLOW_HTTP_H */
