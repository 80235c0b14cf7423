/*-------------------------------------------------------------------------
 *
 * api_errors.c
 *		What a user sees when a request fails: an ERROR whose errmsg names
 *		the operation and the HTTP status (or the network phase that failed
 *		and after how long), whose errdetail carries Webflow's own code,
 *		message and details verbatim, and whose errhint says what to do;
 *		and the one-line description the outbox keeps.
 *
 * SQLSTATEs (class WF, see webflow.h): WF000 network, WF400 client error,
 * WF401 token rejected, WF403 forbidden, WF404 not found, WF408 timeout,
 * WF409 conflict, WF429 rate limited, WF500 server error, WF502 bad
 * response.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "api_errors.h"
#include "compat.h"
#include "http.h"
#include "jsonb_util.h"
#include "webflow.h"

/* How much of an unexpected response body an error shows. */
#define BODY_EXCERPT 300

static const char *status_reason(long status);
static char *find_scope(const char *text);
static char *describe_response(WebflowHttpResult *result);
static void report_http_status(const char *operation, WebflowHttpResult *result);

/* status_reason names an HTTP status for messages. */
static const char *
status_reason(long status)
{
	switch (status)
	{
		case 400:
			return "Bad Request";
		case 401:
			return "Unauthorized";
		case 403:
			return "Forbidden";
		case 404:
			return "Not Found";
		case 405:
			return "Method Not Allowed";
		case 409:
			return "Conflict";
		case 413:
			return "Payload Too Large";
		case 415:
			return "Unsupported Media Type";
		case 422:
			return "Unprocessable Entity";
		case 429:
			return "Too Many Requests";
		case 500:
			return "Internal Server Error";
		case 502:
			return "Bad Gateway";
		case 503:
			return "Service Unavailable";
		case 504:
			return "Gateway Timeout";
		default:
			if (status >= 300 && status < 400)
				return "Redirect";
			return "";
	}
}

/* webflow_excerpt returns the start of a text, shortened for a message. */
char *
webflow_excerpt(const char *body)
{
	int			len = strlen(body);

	if (len <= BODY_EXCERPT)
		return pstrdup(body);
	len = pg_mbcliplen(body, len, BODY_EXCERPT);
	return psprintf("%.*s...", len, body);
}

/*
 * find_scope returns the first OAuth scope named in a text (such as
 * "cms:write"), or NULL.
 */
static char *
find_scope(const char *text)
{
	static const char *const scopes[] = {
		"authorized_user:read", "sites:read", "sites:write", "cms:read",
		"cms:write", "comments:read", "comments:write", "pages:read",
		"pages:write", "forms:read", "assets:read", "custom_code:read",
		NULL
	};
	int			i;

	for (i = 0; scopes[i] != NULL; i++)
	{
		if (strstr(text, scopes[i]) != NULL)
			return pstrdup(scopes[i]);
	}
	return NULL;
}

/*
 * describe_response returns Webflow's code, message and details of an
 * error response verbatim, or an excerpt of a body that is not Webflow's
 * error JSON.
 */
static char *
describe_response(WebflowHttpResult *result)
{
	Jsonb	   *body = webflow_jsonb_try_parse(result->body);
	JsonbValue *code = webflow_jsonb_get(body, "code");
	JsonbValue *message = webflow_jsonb_get(body, "message");
	JsonbValue *details = webflow_jsonb_get(body, "details");
	StringInfoData detail;

	initStringInfo(&detail);
	if (code != NULL || message != NULL)
	{
		appendStringInfo(&detail, "code: %s",
						 code ? webflow_jsonb_string(code) ?
						 webflow_jsonb_string(code) : webflow_jsonb_value_text(code) :
						 "(none)");
		if (message != NULL)
			appendStringInfo(&detail, "; message: %s",
							 webflow_jsonb_string(message) ?
							 webflow_jsonb_string(message) :
							 webflow_jsonb_value_text(message));
		if (details != NULL && webflow_jsonb_array_size(details) != 0 &&
			details->type != jbvNull)
			appendStringInfo(&detail, "; details: %s",
							 webflow_jsonb_value_text(details));
	}
	else if (result->body_len > 0)
		appendStringInfo(&detail, "Response body: %s", webflow_excerpt(result->body));
	else
		appendStringInfoString(&detail, "The response had no body.");
	return detail.data;
}

/*
 * webflow_describe_failure says in one line why a request failed, for the
 * outbox and the status view: the HTTP status and Webflow's own error, or
 * the network failure.
 */
char *
webflow_describe_failure(WebflowHttpResult *result)
{
	switch (result->outcome)
	{
		case WEBFLOW_HTTP_RESPONSE:
			return psprintf("HTTP %ld%s%s: %s", result->status,
							status_reason(result->status)[0] ? " " : "",
							status_reason(result->status),
							describe_response(result));
		case WEBFLOW_HTTP_CANCELED:
			return pstrdup("canceled");
		case WEBFLOW_HTTP_TIMEOUT:
			return psprintf("timed out after %.0f ms (phase: %s): %s",
							result->elapsed_ms, result->phase, result->error);
		case WEBFLOW_HTTP_NETWORK_ERROR:
			return psprintf("network failure after %.0f ms (phase: %s): %s",
							result->elapsed_ms, result->phase, result->error);
		case WEBFLOW_HTTP_TOO_LARGE:
			return pstrdup("the response is larger than 64 MB");
	}
	return pstrdup("unknown failure");
}

/*
 * report_http_status raises the error for a non-2xx response: errmsg names
 * the operation and status, errdetail carries Webflow's code, message and
 * details verbatim, errhint says what to do.
 */
static void
report_http_status(const char *operation, WebflowHttpResult *result)
{
	long		status = result->status;
	char	   *detail = describe_response(result);
	char	   *hint;
	int			sqlstate;
	char	   *scope;

	switch (status)
	{
		case 401:
			sqlstate = ERRCODE_WEBFLOW_AUTH;
			hint = pstrdup("Check webflow.token: Webflow did not accept it (missing, mistyped, expired or revoked).");
			break;
		case 403:
			sqlstate = ERRCODE_WEBFLOW_FORBIDDEN;
			scope = find_scope(result->body);
			if (scope != NULL)
				hint = psprintf("The token lacks the \"%s\" scope this operation needs: grant it to the token in Webflow.", scope);
			else
				hint = pstrdup("The token is valid but lacks a scope or access this operation needs: check its scopes and sites in Webflow (webflow.get_authorization_info()).");
			break;
		case 404:
			sqlstate = ERRCODE_WEBFLOW_NOT_FOUND;
			hint = pstrdup("Check the id: it must exist and be visible to this token.");
			break;
		case 409:
			sqlstate = ERRCODE_WEBFLOW_CONFLICT;
			hint = pstrdup("The object is not in a state that allows this operation (for example, the item is not published).");
			break;
		case 429:
			sqlstate = ERRCODE_WEBFLOW_RATE_LIMITED;
			hint = psprintf("Webflow is rate limiting this token; retry after %d s.",
							result->retry_after_s >= 0 ? result->retry_after_s : 60);
			break;
		default:
			if (status >= 500)
			{
				sqlstate = ERRCODE_WEBFLOW_SERVER_ERROR;
				hint = pstrdup("Webflow could not process the request; retry later.");
			}
			else if (status >= 300 && status < 400)
			{
				sqlstate = ERRCODE_WEBFLOW_CLIENT_ERROR;
				hint = pstrdup("Redirects are not followed: check webflow.api_url.");
			}
			else
			{
				sqlstate = ERRCODE_WEBFLOW_CLIENT_ERROR;
				hint = pstrdup("Webflow rejected the request: correct it as the details say.");
			}
			break;
	}

	ereport(ERROR,
			(errcode(sqlstate),
			 errmsg("Webflow %s failed: HTTP %ld%s%s", operation, status,
					status_reason(status)[0] ? " " : "", status_reason(status)),
			 errdetail_internal("%s", detail),
			 errhint("%s", hint)));
}

/*
 * webflow_report_failure raises the error for a request that did not end
 * with a 2xx response.
 */
void
webflow_report_failure(const char *operation, WebflowHttpResult *result)
{
	switch (result->outcome)
	{
		case WEBFLOW_HTTP_RESPONSE:
			report_http_status(operation, result);
			break;
		case WEBFLOW_HTTP_CANCELED:
			/* raises the cancel or termination error that is pending */
			CHECK_FOR_INTERRUPTS();
			ereport(ERROR,
					(errcode(ERRCODE_QUERY_CANCELED),
					 errmsg("Webflow %s was canceled", operation)));
			break;
		case WEBFLOW_HTTP_TIMEOUT:
			ereport(ERROR,
					(errcode(ERRCODE_WEBFLOW_TIMEOUT),
					 errmsg("Webflow %s timed out after %.0f ms (phase: %s)",
							operation, result->elapsed_ms, result->phase),
					 errdetail_internal("%s", result->error),
					 errhint("webflow.timeout is %d ms and webflow.connect_timeout %d ms; raise them if the API is slow, or check the network path to webflow.api_url.",
							 webflow_timeout_ms, webflow_connect_timeout_ms)));
			break;
		case WEBFLOW_HTTP_NETWORK_ERROR:
			ereport(ERROR,
					(errcode(ERRCODE_WEBFLOW_NETWORK),
					 errmsg("Webflow %s failed after %.0f ms (phase: %s)",
							operation, result->elapsed_ms, result->phase),
					 errdetail_internal("%s", result->error),
					 errhint("Check webflow.api_url and that the database server can reach it.")));
			break;
		case WEBFLOW_HTTP_TOO_LARGE:
			ereport(ERROR,
					(errcode(ERRCODE_WEBFLOW_BAD_RESPONSE),
					 errmsg("Webflow %s failed: the response is larger than 64 MB",
							operation)));
			break;
	}
}

