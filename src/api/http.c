/*-------------------------------------------------------------------------
 *
 * http.c
 *		libcurl client of the webflow extension.
 *
 * Each process keeps one easy handle for its whole life, so consecutive
 * requests reuse the TCP connection and the TLS session.  libcurl is
 * initialised on first use, never in the postmaster.
 *
 * Rules kept here:
 *	- curl allocates with malloc; nothing curl owns is palloc'd, and every
 *	  curl object made for a request is freed before the function returns.
 *	- The callbacks never raise a PostgreSQL error and never palloc: they
 *	  write into malloc'd buffers and report trouble by their return value.
 *	  Errors are raised by the callers, after curl_easy_perform returns.
 *	- A pending query cancel or termination aborts the transfer through the
 *	  progress callback.
 *	- Redirects are never followed, and only http and https are spoken.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <curl/curl.h>

#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "connection.h"
#include "http.h"
#include "jsonb_util.h"
#include "token.h"
#include "webflow.h"

/* A response body larger than this is refused (64 MB). */
#define MAX_RESPONSE_BYTES (64 * 1024 * 1024)

/* malloc'd growing buffer filled by the write callback */
typedef struct ResponseBuffer
{
	char	   *data;
	size_t		len;
	size_t		cap;
	bool		too_large;
} ResponseBuffer;

/* header values collected by the header callback */
typedef struct ResponseHeaders
{
	int			retry_after_s;
	int			ratelimit_limit;
	int			ratelimit_remaining;
} ResponseHeaders;

/* global state */
WebflowRateInfo webflow_last_rate_info = {-1, -1, -1, 0};
volatile sig_atomic_t webflow_http_abort_pending = false;
bool		webflow_http_abort_on_barrier = false;

static CURL *curl_handle = NULL;
static bool curl_initialized = false;
static long connections_opened = 0;
static long requests_sent = 0;
static bool connection_open = false;
static uint32 wait_event_http = 0;

static CURL *get_handle(void);
static size_t write_body(char *ptr, size_t size, size_t nmemb, void *userdata);
static size_t read_header(char *ptr, size_t size, size_t nmemb, void *userdata);
static int	check_abort(void *clientp, curl_off_t dltotal, curl_off_t dlnow,
						curl_off_t ultotal, curl_off_t ulnow);
static int	header_int(const char *line, size_t len, const char *name);
static const char *failed_phase(CURL *handle, CURLcode code, bool https);
static char *build_url(const WebflowConnection *conn, const char *path_and_query);

/*
 * get_handle returns this process's easy handle, creating it (and
 * initialising libcurl) on first use.
 */
static CURL *
get_handle(void)
{
	if (!curl_initialized)
	{
		if (curl_global_init(CURL_GLOBAL_ALL) != CURLE_OK)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not initialize libcurl")));
		curl_initialized = true;
	}
	if (curl_handle == NULL)
	{
		curl_handle = curl_easy_init();
		if (curl_handle == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("could not create a libcurl handle")));
	}
	return curl_handle;
}

/*
 * write_body appends response bytes to a malloc'd buffer; returning less
 * than it was given makes curl abort the transfer.
 */
static size_t
write_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	ResponseBuffer *buf = (ResponseBuffer *) userdata;
	size_t		n = size * nmemb;

	if (buf->len + n + 1 > MAX_RESPONSE_BYTES)
	{
		buf->too_large = true;
		return 0;
	}
	if (buf->len + n + 1 > buf->cap)
	{
		size_t		newcap = buf->cap ? buf->cap : 8192;
		char	   *newdata;

		while (newcap < buf->len + n + 1)
			newcap *= 2;
		newdata = realloc(buf->data, newcap);
		if (newdata == NULL)
			return 0;
		buf->data = newdata;
		buf->cap = newcap;
	}
	memcpy(buf->data + buf->len, ptr, n);
	buf->len += n;
	buf->data[buf->len] = '\0';
	return n;
}

/*
 * header_int returns the non-negative integer value of header "name" if
 * the header line is that header, or -1.
 */
static int
header_int(const char *line, size_t len, const char *name)
{
	size_t		namelen = strlen(name);
	size_t		i;
	long		value = 0;
	bool		digits = false;

	if (len <= namelen || pg_strncasecmp(line, name, namelen) != 0 ||
		line[namelen] != ':')
		return -1;
	for (i = namelen + 1; i < len && (line[i] == ' ' || line[i] == '\t'); i++)
		;
	for (; i < len && line[i] >= '0' && line[i] <= '9'; i++)
	{
		digits = true;
		if (value < INT_MAX / 10)
			value = value * 10 + (line[i] - '0');
	}
	return digits ? (int) Min(value, INT_MAX) : -1;
}

/* read_header picks the rate-limit headers out of each header line. */
static size_t
read_header(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	ResponseHeaders *headers = (ResponseHeaders *) userdata;
	size_t		n = size * nmemb;
	int			v;

	/* a new response (after 100 Continue, say) starts over */
	if (n > 5 && strncmp(ptr, "HTTP/", 5) == 0)
	{
		headers->retry_after_s = -1;
		headers->ratelimit_limit = -1;
		headers->ratelimit_remaining = -1;
	}
	else if ((v = header_int(ptr, n, "Retry-After")) >= 0)
		headers->retry_after_s = v;
	else if ((v = header_int(ptr, n, "X-RateLimit-Limit")) >= 0)
		headers->ratelimit_limit = v;
	else if ((v = header_int(ptr, n, "X-RateLimit-Remaining")) >= 0)
		headers->ratelimit_remaining = v;
	return n;
}

/*
 * check_abort is curl's progress callback: a non-zero return aborts the
 * transfer when the query is canceled or the process must exit.
 */
static int
check_abort(void *clientp, curl_off_t dltotal, curl_off_t dlnow,
			curl_off_t ultotal, curl_off_t ulnow)
{
	return (QueryCancelPending || ProcDiePending || webflow_http_abort_pending ||
			(webflow_http_abort_on_barrier && ProcSignalBarrierPending)) ? 1 : 0;
}

/*
 * failed_phase names the phase a failed transfer was in, from the error
 * code and curl's timing of each phase.
 */
static const char *
failed_phase(CURL *handle, CURLcode code, bool https)
{
	double		namelookup = 0,
				connect = 0,
				appconnect = 0,
				starttransfer = 0;
	long		connects = 0;

	switch (code)
	{
		case CURLE_COULDNT_RESOLVE_HOST:
		case CURLE_COULDNT_RESOLVE_PROXY:
			return "resolve";
		case CURLE_COULDNT_CONNECT:
			return "connect";
		case CURLE_SSL_CONNECT_ERROR:
		case CURLE_PEER_FAILED_VERIFICATION:
		case CURLE_SSL_CERTPROBLEM:
		case CURLE_SSL_CIPHER:
		case CURLE_SSL_CACERT_BADFILE:
		case CURLE_SSL_ISSUER_ERROR:
			return "TLS handshake";
		default:
			break;
	}
	curl_easy_getinfo(handle, CURLINFO_NUM_CONNECTS, &connects);
	curl_easy_getinfo(handle, CURLINFO_NAMELOOKUP_TIME, &namelookup);
	curl_easy_getinfo(handle, CURLINFO_CONNECT_TIME, &connect);
	curl_easy_getinfo(handle, CURLINFO_APPCONNECT_TIME, &appconnect);
	curl_easy_getinfo(handle, CURLINFO_STARTTRANSFER_TIME, &starttransfer);
	if (connects > 0)
	{
		/* a new connection: how far did it get? */
		if (namelookup <= 0 && connect <= 0)
			return "resolve";
		if (connect <= 0)
			return "connect";
		if (https && appconnect <= 0)
			return "TLS handshake";
	}
	if (starttransfer <= 0)
		return "waiting for response";
	return "transfer";
}

/* build_url joins a connection's API URL and a path (with its query). */
static char *
build_url(const WebflowConnection *conn, const char *path_and_query)
{
	size_t		baselen = strlen(conn->api_url);

	while (baselen > 0 && conn->api_url[baselen - 1] == '/')
		baselen--;
	return psprintf("%.*s%s", (int) baselen, conn->api_url, path_and_query);
}

/*
 * checked_token returns the connection's token, refusing one that is
 * missing or cannot be sent in an HTTP header.
 */
static const char *
checked_token(const WebflowConnection *conn)
{
	if (conn->name[0] != '\0' && conn->token == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("webflow connection \"%s\" has no usable token: %s", conn->name, conn->problem),
				 errhint("Give the user mapping a token: ALTER USER MAPPING FOR ... SERVER %s OPTIONS (SET token '...').",
						 quote_identifier(conn->name))));
	if (conn->token == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s", conn->problem),
				 errhint("A superuser names a file holding the token in webflow.token_file (ALTER SYSTEM SET webflow.token_file = '/path'; SELECT pg_reload_conf();), or sets webflow.token in postgresql.conf.")));
	if (webflow_token_problem(conn->token) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the API token contains a character that cannot be sent in an HTTP header"),
				 errhint("Set webflow.token (or the contents of webflow.token_file) to the token exactly as Webflow shows it.")));
	return conn->token;
}

/*
 * append_header adds a header line to a curl list; on failure (out of
 * memory) it keeps the list as it was and clears *ok.  No ereport.
 */
static struct curl_slist *
append_header(struct curl_slist *headers, const char *line, bool *ok)
{
	struct curl_slist *next = curl_slist_append(headers, line);

	if (next == NULL)
	{
		*ok = false;
		return headers;
	}
	return next;
}

/* request_headers makes the request's header list.  No ereport. */
static struct curl_slist *
request_headers(const char *auth, bool has_body, bool *ok)
{
	struct curl_slist *headers = NULL;

	headers = append_header(headers, auth, ok);
	headers = append_header(headers, "Accept: application/json", ok);
	if (has_body)
		headers = append_header(headers, "Content-Type: application/json", ok);
	/* no "Expect: 100-continue" round trip for large bodies */
	headers = append_header(headers, "Expect:", ok);
	return headers;
}

/*
 * set_options sets up the handle for one request; it returns false when
 * libcurl refused an option (out of memory).  No ereport.
 */
static bool
set_options(CURL *handle, const char *method, const char *url, const char *payload,
			struct curl_slist *headers, char *errbuf,
			ResponseBuffer *buf, ResponseHeaders *rh)
{
	bool		ok = true;

	ok &= curl_easy_setopt(handle, CURLOPT_URL, url) == CURLE_OK;
#if LIBCURL_VERSION_NUM >= 0x075500
	ok &= curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK;
#else
	ok &= curl_easy_setopt(handle, CURLOPT_PROTOCOLS,
						   (long) (CURLPROTO_HTTP | CURLPROTO_HTTPS)) == CURLE_OK;
#endif
	ok &= curl_easy_setopt(handle, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK;
	ok &= curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
	ok &= curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, errbuf) == CURLE_OK;
	ok &= curl_easy_setopt(handle, CURLOPT_USERAGENT, WEBFLOW_USER_AGENT) == CURLE_OK;
	ok &= curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers) == CURLE_OK;
	ok &= curl_easy_setopt(handle, CURLOPT_TIMEOUT_MS, (long) webflow_timeout_ms) == CURLE_OK;
	ok &= curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT_MS,
						   (long) Min(webflow_connect_timeout_ms, webflow_timeout_ms)) == CURLE_OK;
	ok &= curl_easy_setopt(handle, CURLOPT_TCP_KEEPALIVE, 1L) == CURLE_OK;
	ok &= curl_easy_setopt(handle, CURLOPT_ACCEPT_ENCODING, "") == CURLE_OK;
	ok &= curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, write_body) == CURLE_OK;
	ok &= curl_easy_setopt(handle, CURLOPT_WRITEDATA, buf) == CURLE_OK;
	ok &= curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, read_header) == CURLE_OK;
	ok &= curl_easy_setopt(handle, CURLOPT_HEADERDATA, rh) == CURLE_OK;
	ok &= curl_easy_setopt(handle, CURLOPT_NOPROGRESS, 0L) == CURLE_OK;
	ok &= curl_easy_setopt(handle, CURLOPT_XFERINFOFUNCTION, check_abort) == CURLE_OK;
	if (webflow_ca_bundle != NULL && webflow_ca_bundle[0] != '\0')
		ok &= curl_easy_setopt(handle, CURLOPT_CAINFO, webflow_ca_bundle) == CURLE_OK;
	if (strcmp(method, "GET") == 0)
		ok &= curl_easy_setopt(handle, CURLOPT_HTTPGET, 1L) == CURLE_OK;
	else
		ok &= curl_easy_setopt(handle, CURLOPT_CUSTOMREQUEST, method) == CURLE_OK;
	if (payload != NULL)
	{
		ok &= curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE_LARGE,
							   (curl_off_t) strlen(payload)) == CURLE_OK;
		ok &= curl_easy_setopt(handle, CURLOPT_POSTFIELDS, payload) == CURLE_OK;
	}
	else if (strcmp(method, "GET") != 0)
	{
		/* a body-less POST/PATCH/DELETE sends Content-Length: 0 */
		ok &= curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE, 0L) == CURLE_OK;
		ok &= curl_easy_setopt(handle, CURLOPT_POSTFIELDS, "") == CURLE_OK;
	}
	return ok;
}

/*
 * classify_outcome fills the result's status, outcome, timing and, for a
 * failed transfer, the phase it failed in.  No ereport.
 */
static void
classify_outcome(CURL *handle, CURLcode code, bool https, ResponseBuffer *buf,
				 WebflowHttpResult *result)
{
	long		connects = 0;
	double		total = 0;

	curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &result->status);
	curl_easy_getinfo(handle, CURLINFO_TOTAL_TIME, &total);
	curl_easy_getinfo(handle, CURLINFO_NUM_CONNECTS, &connects);
	connections_opened += connects;
	/*
	 * libcurl silently sends a request again on a new connection when a
	 * kept-alive one turns out dead; the server may have acted on the first.
	 */
	result->reconnected = connection_open && connects > 0;
	connection_open = (code == CURLE_OK);
	result->elapsed_ms = total * 1000.0;

	if (code == CURLE_OK)
		result->outcome = WEBFLOW_HTTP_RESPONSE;
	else if (code == CURLE_ABORTED_BY_CALLBACK)
		result->outcome = WEBFLOW_HTTP_CANCELED;
	else if (code == CURLE_WRITE_ERROR && buf->too_large)
		result->outcome = WEBFLOW_HTTP_TOO_LARGE;
	else if (code == CURLE_OPERATION_TIMEDOUT)
		result->outcome = WEBFLOW_HTTP_TIMEOUT;
	else
		result->outcome = WEBFLOW_HTTP_NETWORK_ERROR;

	if (code != CURLE_OK)
	{
		result->phase = failed_phase(handle, code, https);
		/* once the request went out, the server may have acted on it */
		result->maybe_delivered =
			strcmp(result->phase, "waiting for response") == 0 ||
			strcmp(result->phase, "transfer") == 0;
	}
}

/*
 * release_request keeps the handle for the next request but drops the
 * pointers into the caller's stack frame, and frees the header list.
 */
static void
release_request(CURL *handle, struct curl_slist *headers)
{
	curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_setopt(handle, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(handle, CURLOPT_WRITEDATA, NULL);
	curl_easy_setopt(handle, CURLOPT_HEADERDATA, NULL);
	curl_slist_free_all(headers);
}

/*
 * take_response moves the body (malloc'd by the write callback) and the
 * rate-limit headers into the result, once curl's objects are freed.
 */
static void
take_response(ResponseBuffer *buf, ResponseHeaders *rh, WebflowHttpResult *result)
{
	if (buf->data != NULL && result->outcome == WEBFLOW_HTTP_RESPONSE)
	{
		char	   *copy = palloc(buf->len + 1);

		memcpy(copy, buf->data, buf->len);
		copy[buf->len] = '\0';
		free(buf->data);
		buf->data = NULL;
		result->body = pg_any_to_server(copy, (int) buf->len, PG_UTF8);
		result->body_len = strlen(result->body);
	}
	if (buf->data != NULL)
		free(buf->data);
	buf->data = NULL;
	if (result->body == NULL)
		result->body = pstrdup("");

	result->retry_after_s = rh->retry_after_s;
	result->ratelimit_limit = rh->ratelimit_limit;
	result->ratelimit_remaining = rh->ratelimit_remaining;
	if (result->outcome == WEBFLOW_HTTP_RESPONSE)
	{
		webflow_last_rate_info.limit = rh->ratelimit_limit;
		webflow_last_rate_info.remaining = rh->ratelimit_remaining;
		webflow_last_rate_info.retry_after_s = rh->retry_after_s;
		webflow_last_rate_info.received_at = GetCurrentTimestamp();
	}
}

/*
 * webflow_http_send sends one request to the Webflow API and fills
 * *result.  path_and_query is relative to webflow.api_url and already
 * escaped; body (server encoding, may be NULL) is sent as JSON.  Errors are
 * raised only for problems found before anything is sent.
 */
void
webflow_http_send(const char *method, const char *path_and_query,
				  const char *body, WebflowHttpResult *result)
{
	CURL	   *handle;
	CURLcode	code;
	char		errbuf[CURL_ERROR_SIZE];
	char	   *url;
	char	   *auth;
	char	   *payload = NULL;
	struct curl_slist *headers;
	ResponseBuffer buf = {NULL, 0, 0, false};
	ResponseHeaders rh = {-1, -1, -1};
	bool		https;
	bool		setup_ok = true;
	const char *token;
	WebflowConnection conn;

	memset(result, 0, sizeof(*result));
	result->retry_after_s = -1;
	result->ratelimit_limit = -1;
	result->ratelimit_remaining = -1;

	/* everything that may raise an error is done before curl gets memory */
	webflow_connection_current(&conn);
	token = checked_token(&conn);
	url = build_url(&conn, path_and_query);
	https = pg_strncasecmp(url, "https://", 8) == 0;
	auth = psprintf("Authorization: Bearer %s", token);
	if (body != NULL)
		payload = pg_server_to_any(body, strlen(body), PG_UTF8);
	handle = get_handle();
	curl_easy_reset(handle);

	/* from here on, no ereport until the curl objects are freed */
	errbuf[0] = '\0';
	headers = request_headers(auth, body != NULL, &setup_ok);
	setup_ok &= set_options(handle, method, url, payload, headers, errbuf, &buf, &rh);
	if (setup_ok)
	{
		requests_sent++;
		pgstat_report_wait_start(WEBFLOW_WAIT_EVENT(wait_event_http, "WebflowHttp"));
		code = curl_easy_perform(handle);
		pgstat_report_wait_end();
	}
	else
		code = CURLE_OUT_OF_MEMORY;
	classify_outcome(handle, code, https, &buf, result);
	release_request(handle, headers);

	/* curl's objects are gone: palloc and ereport are allowed again */
	explicit_bzero(auth, strlen(auth));
	pfree(auth);
	if (code != CURLE_OK)
		result->error = pstrdup(errbuf[0] ? errbuf : curl_easy_strerror(code));
	take_response(&buf, &rh, result);
	if (payload != NULL && payload != body)
		pfree(payload);
	pfree(url);
}

PG_FUNCTION_INFO_V1(webflow_http_stats);

/*
 * webflow.http_stats() shows this session's HTTP client: requests sent,
 * TCP connections opened, and the rate-limit headers of the last response.
 */
Datum
webflow_http_stats(PG_FUNCTION_ARGS)
{
	JsonbParseState *st = NULL;

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	webflow_jsonb_put_int(&st, "requests", requests_sent, false);
	webflow_jsonb_put_int(&st, "connections", connections_opened, false);
	webflow_jsonb_put_int(&st, "rateLimitLimit", webflow_last_rate_info.limit,
						  webflow_last_rate_info.limit < 0);
	webflow_jsonb_put_int(&st, "rateLimitRemaining", webflow_last_rate_info.remaining,
						  webflow_last_rate_info.remaining < 0);
	webflow_jsonb_put_int(&st, "retryAfter", webflow_last_rate_info.retry_after_s,
						  webflow_last_rate_info.retry_after_s < 0);
	webflow_jsonb_put_time(&st, "receivedAt", webflow_last_rate_info.received_at);
	PG_RETURN_JSONB_P(webflow_jsonb_finish(&st, false));
}

/*
 * webflow_http_connections_opened counts the TCP connections this process
 * has opened (fewer than its requests when keep-alive works).
 */
long
webflow_http_connections_opened(void)
{
	return connections_opened;
}
