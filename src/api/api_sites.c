/*-------------------------------------------------------------------------
 *
 * api_sites.c
 *		SQL functions for the Webflow endpoints that are not about items:
 *		the generic webflow.request(), token introspection, sites,
 *		collections, comments and webhooks.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"

#include "api.h"
#include "api_args.h"
#include "compat.h"
#include "jsonb_util.h"
#include "value_parse.h"
#include "webflow.h"

PG_FUNCTION_INFO_V1(webflow_request);
PG_FUNCTION_INFO_V1(webflow_get_authorization_user_info);
PG_FUNCTION_INFO_V1(webflow_get_authorization_info);
PG_FUNCTION_INFO_V1(webflow_list_sites);
PG_FUNCTION_INFO_V1(webflow_get_site);
PG_FUNCTION_INFO_V1(webflow_get_custom_domains);
PG_FUNCTION_INFO_V1(webflow_publish_site);
PG_FUNCTION_INFO_V1(webflow_list_collections);
PG_FUNCTION_INFO_V1(webflow_get_collection);
PG_FUNCTION_INFO_V1(webflow_list_comment_threads);
PG_FUNCTION_INFO_V1(webflow_get_comment_thread);
PG_FUNCTION_INFO_V1(webflow_list_comment_replies);
PG_FUNCTION_INFO_V1(webflow_list_webhooks);
PG_FUNCTION_INFO_V1(webflow_get_webhook);
PG_FUNCTION_INFO_V1(webflow_create_webhook);
PG_FUNCTION_INFO_V1(webflow_remove_webhook);

/* The webhook trigger types of the Webflow API. */
static const char *const trigger_types[] = {
	"form_submission", "site_publish", "page_created",
	"page_metadata_updated", "page_deleted", "ecomm_new_order",
	"ecomm_order_changed", "ecomm_inventory_changed",
	"collection_item_created", "collection_item_changed",
	"collection_item_deleted", "collection_item_published",
	"collection_item_unpublished", "comment_created", NULL
};

static void check_request_path(const char *path);
static char *id_path(const char *fmt, const char *id);
static char *id2_path(const char *fmt, const char *id1, const char *id2);

/*
 * check_request_path refuses a path that is not a plain path below the API
 * root: it must start with "/", and may not hold ".", ".." or empty
 * segments, a query, a fragment or characters that need escaping.
 */
static void
check_request_path(const char *path)
{
	const char *p;
	const char *segment;

	if (path[0] != '/')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("path \"%s\" must start with \"/\"", path),
				 errhint("Give the path relative to webflow.api_url, for example '/sites'.")));
	for (p = path; *p; p++)
	{
		if ((unsigned char) *p < 0x20 || (unsigned char) *p >= 0x7f)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("path contains the byte 0x%02X, which is not allowed",
							(unsigned char) *p),
					 errhint("Paths hold printable ASCII only; Webflow ids need no escaping.")));
		if (!(isalnum((unsigned char) *p) || strchr("-._~/:@!$&'()*+,;=", *p)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("path \"%s\" contains the character \"%c\", which is not allowed",
							path, *p),
					 errhint("Pass query parameters in the query argument, not in the path.")));
	}
	segment = path + 1;
	for (;;)
	{
		size_t		len = strcspn(segment, "/");

		if ((len == 0 && segment[len] == '/') ||
			(len == 1 && segment[0] == '.') ||
			(len == 2 && segment[0] == '.' && segment[1] == '.'))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("path \"%s\" must stay below the API root", path),
					 errdetail("Empty, \".\" and \"..\" path segments are not allowed.")));
		if (segment[len] == '\0')
			break;
		segment += len + 1;
	}
}

/* id_path formats a path around one id (ids need no escaping). */
static char *
id_path(const char *fmt, const char *id)
{
	return psprintf(fmt, id);
}

/* id2_path formats a path around two ids. */
static char *
id2_path(const char *fmt, const char *id1, const char *id2)
{
	return psprintf(fmt, id1, id2);
}

/*
 * webflow.request(method, path, body, query) sends any request to the API
 * and returns the JSON response (NULL for 204).
 */
Datum
webflow_request(PG_FUNCTION_ARGS)
{
	static const char *const methods[] = {"GET", "POST", "PATCH", "PUT", "DELETE", NULL};
	char	   *method = webflow_text_arg(fcinfo, 0, "method");
	char	   *path = webflow_text_arg(fcinfo, 1, "path");
	Jsonb	   *body = PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2);
	Jsonb	   *params = PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3);
	StringInfoData query;
	char	   *p;
	int			i;
	Jsonb	   *result;

	for (p = method; *p; p++)
		*p = pg_toupper((unsigned char) *p);
	for (i = 0; methods[i] != NULL; i++)
		if (strcmp(method, methods[i]) == 0)
			break;
	if (methods[i] == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown HTTP method \"%s\"", method),
				 errhint("Use GET, POST, PATCH, PUT or DELETE.")));
	if (strcmp(method, "GET") == 0 && body != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a GET request cannot have a body"),
				 errhint("Pass parameters of a GET in the query argument.")));
	check_request_path(path);

	initStringInfo(&query);
	webflow_query_from_jsonb(&query, params, "query");
	result = webflow_call(psprintf("%s %s", method, path), method, path,
						  query.data,
						  body ? JsonbToCString(NULL, &body->root, VARSIZE(body)) : NULL);
	if (result == NULL)
		PG_RETURN_NULL();
	PG_RETURN_JSONB_P(result);
}

/* webflow.get_authorization_user_info() returns who authorized the token. */
Datum
webflow_get_authorization_user_info(PG_FUNCTION_ARGS)
{
	WEBFLOW_RETURN_JSONB(webflow_call("Get Authorization User Info", "GET",
								   "/token/authorized_by", NULL, NULL));
}

/* webflow.get_authorization_info() returns the token's scopes and reach. */
Datum
webflow_get_authorization_info(PG_FUNCTION_ARGS)
{
	WEBFLOW_RETURN_JSONB(webflow_call("Get Authorization Info", "GET",
								   "/token/introspect", NULL, NULL));
}

/* webflow.list_sites() returns the sites the token can reach. */
Datum
webflow_list_sites(PG_FUNCTION_ARGS)
{
	webflow_return_list(fcinfo, "List Sites", "/sites", NULL, "sites", false);
	return (Datum) 0;
}

/* webflow.get_site(site_id) returns one site. */
Datum
webflow_get_site(PG_FUNCTION_ARGS)
{
	char	   *site = webflow_id_arg(fcinfo, 0, "site_id");

	WEBFLOW_RETURN_JSONB(webflow_call("Get Site", "GET",
								   id_path("/sites/%s", site), NULL, NULL));
}

/* webflow.get_custom_domains(site_id) returns a site's custom domains. */
Datum
webflow_get_custom_domains(PG_FUNCTION_ARGS)
{
	char	   *site = webflow_id_arg(fcinfo, 0, "site_id");

	webflow_return_list(fcinfo, "Get Custom Domains",
						id_path("/sites/%s/custom_domains", site), NULL,
						"customDomains", false);
	return (Datum) 0;
}

/*
 * webflow.publish_site(site_id, custom_domains, publish_to_webflow_subdomain)
 * publishes a site to the given custom domains and/or its webflow.io
 * subdomain.
 */
Datum
webflow_publish_site(PG_FUNCTION_ARGS)
{
	char	   *site = webflow_id_arg(fcinfo, 0, "site_id");
	JsonbParseState *st = NULL;
	Jsonb	   *body;
	bool		any = false;

	if (PG_ARGISNULL(1) && PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("publish_site needs custom_domains or publish_to_webflow_subdomain"),
				 errhint("Pass the domain ids of webflow.get_custom_domains(site_id), or publish_to_webflow_subdomain => true.")));

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	if (!PG_ARGISNULL(1))
	{
		ArrayType  *domains = PG_GETARG_ARRAYTYPE_P(1);
		Datum	   *elems;
		bool	   *nulls;
		int			n;
		int			i;

		if (ARR_NDIM(domains) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("custom_domains must be a one-dimensional array")));

		deconstruct_array(domains, TEXTOID, -1, false, TYPALIGN_INT,
						  &elems, &nulls, &n);
		webflow_jsonb_put_key(&st, "customDomains");
		pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
		for (i = 0; i < n; i++)
		{
			char	   *id;

			if (nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
						 errmsg("custom_domains must not contain NULL")));
			id = TextDatumGetCString(elems[i]);
			if (!webflow_is_object_id(id))
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("custom_domains element %d \"%s\" is not a Webflow id", i + 1, id),
						 errhint("Use the \"id\" of each domain from webflow.get_custom_domains(site_id), not its URL.")));
			webflow_jsonb_put_string(&st, NULL, id);
		}
		pushJsonbValue(&st, WJB_END_ARRAY, NULL);
		any = n > 0;
	}
	if (!any && (PG_ARGISNULL(2) || !PG_GETARG_BOOL(2)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("publish_site has nothing to publish to"),
				 errdetail("custom_domains is empty and publish_to_webflow_subdomain is not true."),
				 errhint("Pass the domain ids of webflow.get_custom_domains(site_id), or publish_to_webflow_subdomain => true.")));
	if (!PG_ARGISNULL(2))
		webflow_jsonb_put_bool(&st, "publishToWebflowSubdomain", PG_GETARG_BOOL(2));
	body = webflow_jsonb_finish(&st, false);

	WEBFLOW_RETURN_JSONB(webflow_call("Publish Site", "POST",
								   id_path("/sites/%s/publish", site), NULL,
								   JsonbToCString(NULL, &body->root, VARSIZE(body))));
}

/* webflow.list_collections(site_id) returns a site's collections. */
Datum
webflow_list_collections(PG_FUNCTION_ARGS)
{
	char	   *site = webflow_id_arg(fcinfo, 0, "site_id");

	webflow_return_list(fcinfo, "List Collections",
						id_path("/sites/%s/collections", site), NULL,
						"collections", false);
	return (Datum) 0;
}

/* webflow.get_collection(collection_id) returns a collection with fields. */
Datum
webflow_get_collection(PG_FUNCTION_ARGS)
{
	char	   *collection = webflow_id_arg(fcinfo, 0, "collection_id");

	WEBFLOW_RETURN_JSONB(webflow_call("Get Collection", "GET",
								   id_path("/collections/%s", collection),
								   NULL, NULL));
}

/* webflow.list_comment_threads(site_id) returns every comment thread. */
Datum
webflow_list_comment_threads(PG_FUNCTION_ARGS)
{
	char	   *site = webflow_id_arg(fcinfo, 0, "site_id");

	webflow_return_list(fcinfo, "List Comment Threads",
						id_path("/sites/%s/comments", site), NULL,
						"comments", true);
	return (Datum) 0;
}

/* webflow.get_comment_thread(site_id, thread_id) returns one thread. */
Datum
webflow_get_comment_thread(PG_FUNCTION_ARGS)
{
	char	   *site = webflow_id_arg(fcinfo, 0, "site_id");
	char	   *thread = webflow_id_arg(fcinfo, 1, "thread_id");

	WEBFLOW_RETURN_JSONB(webflow_call("Get Comment Thread", "GET",
								   id2_path("/sites/%s/comments/%s", site, thread),
								   NULL, NULL));
}

/* webflow.list_comment_replies(site_id, thread_id) returns the replies. */
Datum
webflow_list_comment_replies(PG_FUNCTION_ARGS)
{
	char	   *site = webflow_id_arg(fcinfo, 0, "site_id");
	char	   *thread = webflow_id_arg(fcinfo, 1, "thread_id");

	webflow_return_list(fcinfo, "List Comment Replies",
						id2_path("/sites/%s/comments/%s/replies", site, thread),
						NULL, "comments", true);
	return (Datum) 0;
}

/* webflow.list_webhooks(site_id) returns a site's webhooks. */
Datum
webflow_list_webhooks(PG_FUNCTION_ARGS)
{
	char	   *site = webflow_id_arg(fcinfo, 0, "site_id");

	webflow_return_list(fcinfo, "List Webhooks",
						id_path("/sites/%s/webhooks", site), NULL,
						"webhooks", false);
	return (Datum) 0;
}

/* webflow.get_webhook(webhook_id) returns one webhook. */
Datum
webflow_get_webhook(PG_FUNCTION_ARGS)
{
	char	   *webhook = webflow_id_arg(fcinfo, 0, "webhook_id");

	WEBFLOW_RETURN_JSONB(webflow_call("Get Webhook", "GET",
								   id_path("/webhooks/%s", webhook), NULL, NULL));
}

/*
 * webflow.create_webhook(site_id, trigger_type, url, filter) registers a
 * webhook and returns it.
 */
Datum
webflow_create_webhook(PG_FUNCTION_ARGS)
{
	char	   *site = webflow_id_arg(fcinfo, 0, "site_id");
	char	   *trigger = webflow_text_arg(fcinfo, 1, "trigger_type");
	char	   *url = webflow_text_arg(fcinfo, 2, "url");
	Jsonb	   *filter = PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3);
	JsonbParseState *st = NULL;
	Jsonb	   *body;
	StringInfoData known;
	int			i;

	initStringInfo(&known);
	for (i = 0; trigger_types[i] != NULL; i++)
	{
		if (strcmp(trigger, trigger_types[i]) == 0)
			break;
		appendStringInfo(&known, "%s%s", i ? ", " : "", trigger_types[i]);
	}
	if (trigger_types[i] == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown webhook trigger_type \"%s\"", trigger),
				 errdetail("Webflow knows: %s.", known.data)));
	{
		const char *host = NULL;
		const char *p;

		if (pg_strncasecmp(url, "https://", 8) == 0)
			host = url + 8;
		else if (pg_strncasecmp(url, "http://", 7) == 0)
			host = url + 7;
		for (p = url; host != NULL && *p; p++)
			if ((unsigned char) *p <= ' ' || (unsigned char) *p == 0x7f)
				host = NULL;
		if (host == NULL || *host == '\0' || *host == '/' || *host == ':')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("webhook url \"%s\" is not an http(s) URL with a host", url),
					 errhint("Webflow posts to an absolute URL such as https://example.com/hooks/webflow.")));
	}
	if (filter != NULL && !JB_ROOT_IS_OBJECT(filter))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("filter must be a JSON object"),
				 errhint("Webflow takes a filter only for form_submission, as {\"name\": \"<form name>\"}.")));
	if (filter != NULL && strcmp(trigger, "form_submission") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a webhook filter is only supported for form_submission, not %s", trigger),
				 errhint("Leave filter NULL for this trigger type.")));

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	webflow_jsonb_put_string(&st, "triggerType", trigger);
	webflow_jsonb_put_string(&st, "url", url);
	if (filter != NULL)
	{
		JsonbValue	fv;

		webflow_jsonb_put_value(&st, "filter", webflow_jsonb_root(filter, &fv));
	}
	body = webflow_jsonb_finish(&st, false);

	WEBFLOW_RETURN_JSONB(webflow_call("Create Webhook", "POST",
								   id_path("/sites/%s/webhooks", site), NULL,
								   JsonbToCString(NULL, &body->root, VARSIZE(body))));
}

/* webflow.remove_webhook(webhook_id) deletes a webhook. */
Datum
webflow_remove_webhook(PG_FUNCTION_ARGS)
{
	char	   *webhook = webflow_id_arg(fcinfo, 0, "webhook_id");

	webflow_call("Remove Webhook", "DELETE", id_path("/webhooks/%s", webhook),
				 NULL, NULL);
	PG_RETURN_VOID();
}
