/*-------------------------------------------------------------------------
 *
 * webflow.c
 *		The settings (GUCs) of the webflow extension, which every other part
 *		reads, and the check of an API URL.
 *
 * Settings that could send the server's data or its API token somewhere
 * else (webflow.api_url, webflow.token, webflow.ca_bundle) can only be set
 * by a superuser.  The token is also hidden from everybody else: it is
 * absent from SHOW ALL and pg_settings, and current_setting() refuses it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <limits.h>

#include "access/xact.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

#include "compat.h"
#include "webflow.h"

/* GUC variables */
char	   *webflow_api_url = NULL;
char	   *webflow_token = NULL;
char	   *webflow_token_file = NULL;
int			webflow_timeout_ms = 30000;
int			webflow_connect_timeout_ms = 10000;
char	   *webflow_ca_bundle = NULL;
char	   *webflow_database_name = NULL;
bool		webflow_worker_enabled = true;
int			webflow_naptime_s = 10;
int			webflow_batch_size = WEBFLOW_MAX_BATCH;
int			webflow_rate_limit = 60;
int			webflow_max_connections = 16;
int			webflow_max_attempts = 10;
char	   *webflow_connection_name = NULL;

static bool check_api_url(char **newval, void **extra, GucSource source);
static bool check_token(char **newval, void **extra, GucSource source);
static bool check_connection(char **newval, void **extra, GucSource source);
static const char *show_token(void);
static bool host_is_loopback(const char *host, size_t len);
static void define_publish_settings(void);

/*
 * host_is_loopback says whether a URL host (without port) is a loopback
 * address: localhost, 127.0.0.0/8 written as a dotted quad, or [::1].
 */
static bool
host_is_loopback(const char *host, size_t len)
{
	int			parts = 0;
	size_t		i = 0;

	if (len == strlen("localhost") && pg_strncasecmp(host, "localhost", len) == 0)
		return true;
	if (len == strlen("[::1]") && strncmp(host, "[::1]", len) == 0)
		return true;
	if (len < 4 || strncmp(host, "127.", 4) != 0)
		return false;

	/* four decimal octets, each 0..255 */
	while (i < len)
	{
		int			value = 0;
		size_t		digits = 0;

		while (i < len && isdigit((unsigned char) host[i]) && digits < 4)
		{
			value = value * 10 + (host[i] - '0');
			i++;
			digits++;
		}
		if (digits == 0 || digits > 3 || value > 255)
			return false;
		parts++;
		if (i < len)
		{
			if (host[i] != '.')
				return false;
			i++;
			if (i == len)
				return false;
		}
	}
	return parts == 4;
}

/*
 * webflow_api_url_problem says what is wrong with an API URL (NULL when
 * nothing): https URLs are accepted, plain http only for loopback hosts,
 * so that a token is never sent in clear text over a network.  *hint may
 * be set too.  Used by webflow.api_url and by the api_url of connections.
 */
const char *
webflow_api_url_problem(const char *url, const char **hint)
{
	const char *host;
	const char *end;
	const char *hostend;
	bool		https;

	if (url == NULL || url[0] == '\0')
		return "The API URL must not be empty.";
	if (pg_strncasecmp(url, "https://", 8) == 0)
	{
		https = true;
		host = url + 8;
	}
	else if (pg_strncasecmp(url, "http://", 7) == 0)
	{
		https = false;
		host = url + 7;
	}
	else
		return "Only https:// URLs are accepted (http:// only for loopback addresses).";

	for (end = url; *end; end++)
	{
		if ((unsigned char) *end <= ' ' || *end == '?' || *end == '#' ||
			*end == '\\' || (unsigned char) *end >= 0x7f)
			return "The API URL must not contain spaces, control characters, a query or a fragment.";
	}

	end = host + strcspn(host, "/");
	if (memchr(host, '@', end - host) != NULL)
		return "The API URL must not contain a user name or password.";

	/* find where the host ends and the port begins */
	if (host[0] == '[')
	{
		const char *close = memchr(host, ']', end - host);

		if (close == NULL)
			return "The IPv6 address in the API URL is not closed by \"]\".";
		hostend = close + 1;
	}
	else
	{
		hostend = memchr(host, ':', end - host);
		if (hostend == NULL)
			hostend = end;
	}
	if (hostend == host)
		return "The API URL has no host.";
	if (hostend < end)
	{
		const char *p;
		long		port = 0;

		if (*hostend != ':' || hostend + 1 == end)
			return "The API URL has a malformed port.";
		for (p = hostend + 1; p < end; p++)
		{
			if (!isdigit((unsigned char) *p) || (port = port * 10 + (*p - '0')) > 65535)
				return "The API URL has a malformed port.";
		}
		if (port == 0)
			return "The API URL has a malformed port.";
	}

	if (!https && !host_is_loopback(host, hostend - host))
	{
		*hint = "Use an https:// URL.";
		return "Plain http:// is accepted only for loopback addresses (localhost, 127.0.0.0/8, [::1]).";
	}
	return NULL;
}

/*
 * check_connection accepts a server name (or empty, the default
 * connection); whether the server exists and may be used is checked when
 * a request is sent.
 */
static bool
check_connection(char **newval, void **extra, GucSource source)
{
	if (*newval != NULL && strlen(*newval) >= NAMEDATALEN)
	{
		GUC_check_errdetail("A connection is named by a foreign server name, at most %d bytes.",
							NAMEDATALEN - 1);
		return false;
	}
	return true;
}

/* check_api_url is the check hook of webflow.api_url. */
static bool
check_api_url(char **newval, void **extra, GucSource source)
{
	const char *hint = NULL;
	const char *problem = webflow_api_url_problem(*newval, &hint);

	if (problem == NULL)
		return true;
	GUC_check_errdetail("%s", problem);
	if (hint != NULL)
		GUC_check_errhint("%s", hint);
	return false;
}

/*
 * check_token keeps the token out of settings that others can read: role,
 * database and function settings (ALTER ROLE ... SET, ALTER DATABASE ...
 * SET, CREATE FUNCTION ... SET) live in catalogs every user can query.
 * The value is never put into the message.
 */
static bool
check_token(char **newval, void **extra, GucSource source)
{
	if (source == PGC_S_TEST && *newval != NULL && (*newval)[0] != '\0')
	{
		GUC_check_errmsg("webflow.token cannot be stored as a role, database or function setting");
		GUC_check_errdetail("Those settings are kept in catalogs that every user can read.");
		GUC_check_errhint("Put the token in a file named by webflow.token_file, or set webflow.token in postgresql.conf.");
		return false;
	}
	return true;
}

/*
 * show_token hides the token from everyone but superusers, including the
 * members of pg_read_all_settings (pg_monitor) that GUC_SUPERUSER_ONLY
 * lets through.
 */
static const char *
show_token(void)
{
	if (webflow_token == NULL || webflow_token[0] == '\0')
		return "";
	if (IsTransactionState() && superuser())
		return webflow_token;
	return "********";
}

/*
 * webflow_define_settings defines the settings (webflow.database_name only
 * when loaded through shared_preload_libraries); _PG_init calls it.  Those
 * of requests come first, then define_publish_settings.
 */
void
webflow_define_settings(void)
{
	DefineCustomStringVariable("webflow.api_url",
							   "Base URL of the Webflow Data API v2.",
							   "Only https:// is accepted, except http:// for loopback addresses.",
							   &webflow_api_url,
							   WEBFLOW_DEFAULT_API_URL,
							   PGC_SUSET,
							   0,
							   check_api_url, NULL, NULL);

	DefineCustomStringVariable("webflow.connection",
							   "The Webflow connection this session's API calls use.",
							   "A foreign server of the webflow wrapper (CREATE SERVER ... FOREIGN DATA WRAPPER webflow); empty for the default connection of webflow.api_url and webflow.token.",
							   &webflow_connection_name,
							   "",
							   PGC_USERSET,
							   0,
							   check_connection, NULL, NULL);

	DefineCustomStringVariable("webflow.token",
							   "Webflow API token (site token or OAuth access token).",
							   "Readable and settable by superusers only.",
							   &webflow_token,
							   "",
							   PGC_SUSET,
							   GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   check_token, NULL, show_token);

	DefineCustomStringVariable("webflow.token_file",
							   "File holding the Webflow API token, used when webflow.token is empty.",
							   "Keeps the token out of every setting and log line; the file is read again when it changes.",
							   &webflow_token_file,
							   "",
							   PGC_SUSET,
							   GUC_SUPERUSER_ONLY,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("webflow.timeout",
							"Longest time one Webflow API request may take.",
							NULL,
							&webflow_timeout_ms,
							30000, 1, 3600 * 1000,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("webflow.connect_timeout",
							"Longest time connecting to the Webflow API may take.",
							NULL,
							&webflow_connect_timeout_ms,
							10000, 1, 3600 * 1000,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomStringVariable("webflow.ca_bundle",
							   "File of CA certificates used to verify the Webflow API's TLS certificate.",
							   "Empty means libcurl's default bundle.",
							   &webflow_ca_bundle,
							   "",
							   PGC_SUSET,
							   0,
							   NULL, NULL, NULL);

	define_publish_settings();
}

/*
 * define_publish_settings defines the settings of the publish pipeline and
 * its worker, then reserves the prefix "webflow".
 */
static void
define_publish_settings(void)
{
	DefineCustomIntVariable("webflow.batch_size",
							"Most items sent in one request by the worker and drain().",
							"Webflow takes at most 100 items per bulk request.",
							&webflow_batch_size,
							WEBFLOW_MAX_BATCH, 1, WEBFLOW_MAX_BATCH,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("webflow.rate_limit",
							"Requests per minute the worker and all drain() callers may send together.",
							"Webflow allows 60 (Starter, Basic) or 120 (CMS, Business) per minute and token.",
							&webflow_rate_limit,
							60, 1, WEBFLOW_MAX_RATE_LIMIT,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("webflow.max_attempts",
							"Attempts before an outbox row that keeps failing is marked failed.",
							"Server errors, timeouts and network errors are retried with backoff.",
							&webflow_max_attempts,
							10, 1, 1000,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("webflow.naptime",
							"How often the worker wakes to look for retries that came due.",
							"Commits that enqueue rows wake the worker at once.",
							&webflow_naptime_s,
							10, 1, 3600,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("webflow.worker_enabled",
							 "Whether the background worker publishes the outbox.",
							 "When off, the worker idles and webflow.drain() (pg_cron) does the work.",
							 &webflow_worker_enabled,
							 true,
							 PGC_SIGHUP,
							 0,
							 NULL, NULL, NULL);

	/* a PGC_POSTMASTER setting can only be made while preloading */
	if (process_shared_preload_libraries_in_progress)
	{
		DefineCustomStringVariable("webflow.database_name",
								   "Database the background worker connects to.",
								   "The extension must be created in that database.",
								   &webflow_database_name,
								   "postgres",
								   PGC_POSTMASTER,
								   GUC_SUPERUSER_ONLY,
								   NULL, NULL, NULL);
		DefineCustomIntVariable("webflow.max_connections",
								"Webflow connections (tokens) whose request budgets are shared.",
								"Each token in use has a budget in shared memory; beyond this number the least recently used budget is reused.",
								&webflow_max_connections,
								16, 1, 1000,
								PGC_POSTMASTER,
								0,
								NULL, NULL, NULL);
	}

	/*
	 * Only once every setting is defined: reserving the prefix removes the
	 * placeholders of webflow.* settings not defined yet, with the values
	 * postgresql.conf gave them.
	 */
	MarkGUCPrefixReserved("webflow");
}
