/*-------------------------------------------------------------------------
 *
 * request.c
 *		One request of an outbox pass, and what its answer means for the
 *		changes it carried: waiting for the rate limiter, sending, telling
 *		an answer to act on from one to retry or one that stops the pass
 *		(401/403, shutdown, DROP EXTENSION); the PATCH form of a change;
 *		the item ids a create's answer hands out.  Used by send.c (groups,
 *		chunks, splits) and adopt.c (lookups, adoption, recreation).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/extension.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "api_errors.h"
#include "http.h"
#include "jsonb_util.h"
#include "publish.h"
#include "ratelimit.h"
#include "request.h"
#include "shmem.h"
#include "value_parse.h"
#include "webflow.h"

/* 429s one request waits out before its connection stops for the pass. */
#define MAX_429_PER_REQUEST 3

/* How often a pass sending a batch checks that the extension still exists. */
#define EXTENSION_CHECK_MS 200

static bool extension_dropped(SendState *ss);
static void stop_connection(SendState *ss);
static void send_pinned(SendState *ss, const char *method, const char *target,
						const char *body, WebflowHttpResult *result);
static void push_update_fields(JsonbParseState **st, Change *c, JsonbValue *fields);

/*
 * extension_dropped says, at most every EXTENSION_CHECK_MS, whether DROP EXTENSION took the outbox away while a
 * batch was being sent (its rows are gone: the rest is not sent).
 */
static bool
extension_dropped(SendState *ss)
{
	TimestampTz now = GetCurrentTimestamp();
	MemoryContext cxt = CurrentMemoryContext;
	bool		dropped;

	if (!TimestampDifferenceExceeds(ss->extension_checked_at, now, EXTENSION_CHECK_MS))
		return false;
	ss->extension_checked_at = now;
	StartTransactionCommand();
	dropped = !OidIsValid(get_extension_oid("webflow", true));
	CommitTransactionCommand();
	MemoryContextSwitchTo(cxt);
	return dropped;
}

/*
 * webflow_connection_stopped says whether the binding's connection sends
 * nothing more in this pass: paused, refused, or sending has stopped for
 * all.
 */
bool
webflow_connection_stopped(SendState *ss, Binding *b)
{
	uint64		key = webflow_connection_key(&b->conn);
	ListCell   *lc;

	if (ss->shutdown || b->conn_refusal != NULL)
		return true;
	foreach(lc, ss->stopped)
		if (*(uint64 *) lfirst(lc) == key)
			return true;
	return false;
}

/*
 * webflow_use_connection makes the requests that follow go over the
 * binding's connection; ss->stop then says whether it is stopped.
 */
void
webflow_use_connection(SendState *ss, Binding *b)
{
	ss->conn = &b->conn;
	ss->stop = webflow_connection_stopped(ss, b);
}

/* stop_connection stops sending over the current connection for this pass. */
static void
stop_connection(SendState *ss)
{
	uint64	   *key = palloc(sizeof(uint64));

	*key = webflow_connection_key(ss->conn);
	ss->stopped = lappend(ss->stopped, key);
	ss->stop = true;
}

/*
 * send_pinned sends one request over the current connection (pinned for
 * http.c) and counts it.
 */
static void
send_pinned(SendState *ss, const char *method, const char *target,
			const char *body, WebflowHttpResult *result)
{
	WebflowShared *shared = webflow_shared();
	WebflowPin	was = webflow_connection_pin(ss->conn);

	PG_TRY();
	{
		webflow_http_send(method, target, body, result);
	}
	PG_FINALLY();
	{
		webflow_connection_unpin(was);
	}
	PG_END_TRY();
	webflow_rate_observe(ss->conn, result);
	SpinLockAcquire(&shared->mutex);
	shared->requests_sent++;
	SpinLockRelease(&shared->mutex);
}

/*
 * webflow_send_request waits for the connection's turn and sends one
 * request; a 429 is waited out and sent again.  It classifies the result
 * for the caller.  A paused connection (429 beyond the pass's wait, a
 * refused or missing token) stops only itself: the pass goes on with the
 * others.
 */
RequestClass
webflow_send_request(SendState *ss, const char *method, const char *path,
			 const char *query, const char *body, WebflowHttpResult *result)
{
	char	   *target = query ? psprintf("%s?%s", path, query) : pstrdup(path);
	int			too_many = 0;

	for (;;)
	{
		if (ss->stop)
			return REQ_STOP;
		if (extension_dropped(ss))
		{
			ss->shutdown = ss->stop = true;
			return REQ_STOP;
		}
		if (!webflow_budget_ready(ss->conn, ss->opts->max_wait_ms))
		{
			stop_connection(ss);
			return REQ_STOP;
		}
		send_pinned(ss, method, target, body, result);

		if (result->outcome == WEBFLOW_HTTP_CANCELED)
		{
			ss->shutdown = ss->stop = true;
			return REQ_STOP;
		}
		if (result->outcome != WEBFLOW_HTTP_RESPONSE)
		{
			/* a site that does not answer holds up no other: it pauses */
			webflow_outage_observe(ss->conn, false);
			if (ss->opts->several_connections)
			{
				webflow_outage_pause(ss->conn, result->error ? result->error : "no answer");
				stop_connection(ss);
			}
			return REQ_RETRY;
		}
		/* the limiter now waits for Retry-After; a few times, then the others go */
		if (result->status == 429 && ++too_many < MAX_429_PER_REQUEST)
			continue;
		if (result->status == 429)
		{
			stop_connection(ss);
			return REQ_STOP;
		}
		if (result->status == 401 || result->status == 403)
		{
			char	   *reason = psprintf("Webflow rejected the token%s%s%s (%s); the queue tries again on its own (with backoff), at once when %s is reloaded or on webflow.retry()",
										  ss->conn->name[0] ? " of connection \"" : "",
										  ss->conn->name, ss->conn->name[0] ? "\"" : "",
										  webflow_describe_failure(result),
										  ss->conn->name[0] ? "its user mapping" : "webflow.token (or webflow.token_file)");

			webflow_auth_pause(ss->conn, reason);
			stop_connection(ss);
			return REQ_STOP;
		}
		/*
		 * A 2xx whose body is not JSON is no answer: a write may or may
		 * not have been carried out (its outcome is unknown), a read tells
		 * nothing.  (DELETE answers 204, with no body.)
		 */
		if (result->status >= 200 && result->status < 300 && result->body_len > 0 &&
			webflow_jsonb_try_parse(result->body) == NULL)
		{
			webflow_outage_observe(ss->conn, false);
			return REQ_RETRY;
		}
		webflow_outage_observe(ss->conn, result->status < 500 && result->status != 408);
		if (result->status >= 200 && result->status < 300)
			return REQ_OK;
		if (result->status >= 500 || result->status == 408)
			return REQ_RETRY;
		return REQ_CLIENT_ERROR;
	}
}

/*
 * webflow_retry_outcome is the outcome of a write to try again: a 5xx of
 * Webflow's own counts an attempt (the changes it carried may be the
 * cause); no answer at all, a 2xx whose body is not JSON, or a gateway's
 * 502, 503 or 504 (Webflow unreachable or overloaded, for every change
 * alike) is the network's problem: the changes wait, however long it
 * lasts.
 */
ChangeOutcome
webflow_retry_outcome(const WebflowHttpResult *result)
{
	if (result->outcome != WEBFLOW_HTTP_RESPONSE ||
		(result->status >= 200 && result->status < 300) ||
		result->status == 502 || result->status == 503 || result->status == 504)
		return OUTCOME_WAIT;
	return OUTCOME_RETRY;
}

/* webflow_settle gives n changes one outcome, with the failure's description. */
void
webflow_settle(Change **cs, int n, ChangeOutcome outcome, WebflowHttpResult *result,
	   bool unknown)
{
	char	   *error = result ? webflow_describe_failure(result) : NULL;
	int			i;

	for (i = 0; i < n; i++)
	{
		cs[i]->outcome = outcome;
		cs[i]->unknown_outcome |= unknown;
		if (result != NULL)
		{
			cs[i]->status = (int) result->status;
			cs[i]->error = error;
		}
	}
}

/* webflow_items_path returns the items endpoint of a binding's collection. */
char *
webflow_items_path(Binding *b, bool live, const char *suffix)
{
	return psprintf("/collections/%s/items%s%s", b->collection_id,
					live ? "/live" : "", suffix ? suffix : "");
}

/*
 * webflow_released_slug is the slug an item of ours takes when it gives its
 * slug up (archived, left as a draft, or moved out of another row's way):
 * the slug followed by the item id, unique in the collection.
 */
char *
webflow_released_slug(const char *slug, const char *item_id)
{
	size_t		len;
	size_t		idlen = strlen(item_id);

	/* (an item whose slug is not known now: the id alone) */
	if (slug == NULL)
		return pstrdup(item_id);
	len = strlen(slug);
	/* (released before: keep it as it is) */
	if (len > idlen + 1 && slug[len - idlen - 1] == '-' &&
		strcmp(slug + len - idlen, item_id) == 0)
		return pstrdup(slug);
	return psprintf("%s-%s", slug, item_id);
}

/*
 * webflow_push_update_item pushes the PATCH form of a change: its id and its
 * payload, without a slug Webflow already has (Webflow rejects an
 * unchanged slug as a duplicate).  archive_only sends isArchived and gives
 * the slug up (so that a new row may take it), release_only the slug alone.
 */
void
webflow_push_update_item(JsonbParseState **st, Change *c, bool archive_only,
						 bool release_only)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;

	pushJsonbValue(st, WJB_BEGIN_OBJECT, NULL);
	webflow_jsonb_put_string(st, "id", c->item_id);
	if (archive_only || release_only)
	{
		char	   *released = webflow_released_slug(c->mapped_slug, c->item_id);

		if (archive_only)
			webflow_jsonb_put_bool(st, "isArchived", true);
		/* (not the slug it has already: Webflow refuses an item's own slug) */
		if (c->mapped_slug == NULL || strcmp(released, c->mapped_slug) != 0)
		{
			webflow_jsonb_put_key(st, "fieldData");
			pushJsonbValue(st, WJB_BEGIN_OBJECT, NULL);
			webflow_jsonb_put_string(st, "slug", released);
			pushJsonbValue(st, WJB_END_OBJECT, NULL);
		}
		pushJsonbValue(st, WJB_END_OBJECT, NULL);
		return;
	}
	it = JsonbIteratorInit(&c->payload->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			key = pnstrdup(v.val.string.val, v.val.string.len);
		else if (tok == WJB_VALUE && strcmp(key, "fieldData") != 0)
			webflow_jsonb_put_value(st, key, &v);
		else if (tok == WJB_VALUE && webflow_jsonb_is_object(&v))
			push_update_fields(st, c, &v);
	}
	pushJsonbValue(st, WJB_END_OBJECT, NULL);
}

/*
 * push_update_fields pushes an update's fieldData, without the slug when
 * the item has it already (Webflow refuses to be sent an item's own slug).
 */
static void
push_update_fields(JsonbParseState **st, Change *c, JsonbValue *fields)
{
	JsonbIterator *it = JsonbIteratorInit(fields->val.binary.data);
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *field = NULL;

	webflow_jsonb_put_key(st, "fieldData");
	pushJsonbValue(st, WJB_BEGIN_OBJECT, NULL);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			field = pnstrdup(v.val.string.val, v.val.string.len);
		else if (tok == WJB_VALUE)
		{
			if (strcmp(field, "slug") == 0 && c->mapped_slug != NULL &&
				c->slug != NULL && strcmp(c->slug, c->mapped_slug) == 0)
				continue;
			webflow_jsonb_put_value(st, field, &v);
		}
	}
	pushJsonbValue(st, WJB_END_OBJECT, NULL);
}

/*
 * webflow_chunk_succeeded records a 2xx answer: creates learn their item ids (by
 * position when Webflow returned as many items as were sent, else by
 * slug), the others are done.
 */
void
webflow_chunk_succeeded(Change **cs, int n, GroupKind kind, Jsonb *response)
{
	JsonbValue	root;
	JsonbValue *list;
	int			count;
	int			i;

	if (kind != GROUP_CREATE)
	{
		for (i = 0; i < n; i++)
		{
			cs[i]->outcome = OUTCOME_DONE;
			cs[i]->status = 200;
			/* the item stays mapped (an unpublished or archived one too) */
			if (kind != GROUP_DELETE)
				cs[i]->new_item_id = cs[i]->item_id;
			/* (under the slug it gave up, which the item map records) */
			if (kind == GROUP_ARCHIVE || kind == GROUP_RELEASE)
			{
				cs[i]->mapped_slug = webflow_released_slug(cs[i]->mapped_slug,
														   cs[i]->item_id);
				cs[i]->slug = cs[i]->mapped_slug;
			}
		}
		return;
	}

	list = response ? webflow_jsonb_get(response, "items") : NULL;
	count = webflow_jsonb_array_size(list);
	if (count < 0 && response != NULL && JB_ROOT_IS_OBJECT(response))
	{
		/* the single-item answer */
		list = webflow_jsonb_root(response, &root);
		count = -1;
	}
	for (i = 0; i < n; i++)
	{
		Change	   *c = cs[i];
		JsonbValue *item = NULL;
		char	   *id = NULL;

		if (count == n)
			item = webflow_jsonb_array_element(list, i);
		else if (count < 0 && list != NULL)
			item = list;
		if (item != NULL && webflow_jsonb_is_object(item))
		{
			JsonbValue *fd = webflow_jsonb_container_get(item->val.binary.data, "fieldData");
			char	   *slug = webflow_jsonb_is_object(fd) ?
				webflow_jsonb_string(webflow_jsonb_container_get(fd->val.binary.data, "slug")) : NULL;

			if (slug == NULL || c->slug == NULL || strcmp(slug, c->slug) == 0)
				id = webflow_jsonb_string(webflow_jsonb_container_get(item->val.binary.data, "id"));
		}
		if (id == NULL && count > 0)
		{
			int			j;

			for (j = 0; j < count && id == NULL; j++)
			{
				JsonbValue *e = webflow_jsonb_array_element(list, j);
				JsonbValue *fd = webflow_jsonb_is_object(e) ?
					webflow_jsonb_container_get(e->val.binary.data, "fieldData") : NULL;
				char	   *slug = webflow_jsonb_is_object(fd) ?
					webflow_jsonb_string(webflow_jsonb_container_get(fd->val.binary.data, "slug")) : NULL;

				if (slug != NULL && c->slug != NULL && strcmp(slug, c->slug) == 0)
					id = webflow_jsonb_string(webflow_jsonb_container_get(e->val.binary.data, "id"));
			}
		}
		if (id != NULL && webflow_is_object_id(id))
		{
			c->outcome = OUTCOME_DONE;
			c->status = 202;
			c->new_item_id = id;
		}
		else
		{
			/* created, we think, but we cannot tell which item it is */
			c->outcome = OUTCOME_RETRY;
			c->unknown_outcome = true;
			c->status = 202;
			c->error = pstrdup("Webflow accepted the create but its answer does not name the item; it will be looked up by slug");
		}
	}
}
