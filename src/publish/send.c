/*-------------------------------------------------------------------------
 *
 * send.c
 *		Sending the changes of one outbox pass to Webflow, with no
 *		transaction open.
 *
 * Changes are grouped by collection and operation and sent in requests of
 * at most webflow.batch_size items, each over its binding's connection;
 * the groups of one operation take turns, the connection that may send
 * soonest first, so that each connection's budget is used at once and a
 * paused connection only stops its own changes; in this order: creates whose earlier
 * outcome is unknown are first looked up by slug, then creates and updates
 * (including items adopted after a slug conflict); deletes go first of all.
 *
 * Each response decides the fate of the changes it carried:
 *	- 2xx: done, and created items go into the item map;
 *	- a client error (400, 404, 409, 422) on several items splits the
 *	  request in halves until the bad items are alone; a lone item that
 *	  fails is failed with Webflow's own error text, except that a slug
 *	  conflict on create adopts the existing item (unless another row owns
 *	  it), one on update is retried, a 404 on update recreates the item
 *	  and a 409 on a live update (item not published) updates the staged
 *	  item and publishes it (adopt.c);
 *	- 429 waits for the rate limiter and sends the same request again (or,
 *	  when the wait is longer than the pass may wait, stops that connection);
 *	- 401/403 pause the connection: nothing more is sent over it and no
 *	  attempt counts;
 *	- 5xx, timeouts and network errors retry later; a create that may
 *	  have reached Webflow is looked up by slug before it is sent again.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "adopt.h"
#include "api.h"
#include "http.h"
#include "jsonb_util.h"
#include "publish.h"
#include "ratelimit.h"
#include "request.h"
#include "send.h"
#include "shmem.h"
#include "webflow.h"

/* The changes of one binding that one action sends, in chunks. */
typedef struct SendGroup
{
	Binding    *binding;
	Change	  **cs;
	int			n;
	int			sent;			/* changes already handed to send_chunk */
} SendGroup;

static void send_chunk(SendState *ss, Change **cs, int n, GroupKind kind);
static void forget_item_state(Change **cs, int n);
static int	collect_groups(List *changes, ChangeAction action, SendGroup **groups);
static SendGroup *next_group(SendState *ss, SendGroup *gs, int ngroups);
static void run_groups(SendState *ss, List *changes, GroupKind kind,
					   ChangeAction action);

/*
 * send_chunk sends one request for at most batch_size changes, and splits
 * it when Webflow rejects it as a whole.
 */
/*
 * forget_item_state records that the items of changes whose write may
 * have happened are in an unknown state: the item map keeps the item, but
 * no slug and no payload hash, so that the row's next state is sent in
 * full (a rename back, or a row inserted again after a delete that did
 * happen, is not taken as unchanged).
 */
static void
forget_item_state(Change **cs, int n)
{
	int			i;

	for (i = 0; i < n; i++)
	{
		if (cs[i]->item_id == NULL)
			continue;
		cs[i]->new_item_id = cs[i]->item_id;
		cs[i]->mapped_slug = NULL;
	}
}

static void
send_chunk(SendState *ss, Change **cs, int n, GroupKind kind)
{
	WebflowHttpResult result;
	JsonbParseState *st = NULL;
	JsonbValue	root;
	char	   *body;
	const char *method;
	char	   *path;
	char	   *query = NULL;
	RequestClass cls;
	Binding    *b = cs[0]->binding;
	int			i;
	bool		unknown;
	WebflowShared *shared = webflow_shared();

	if (ss->stop)
	{
		webflow_settle(cs, n, OUTCOME_DEFER, NULL, false);
		return;
	}
	webflow_body_begin(&st, "items");
	for (i = 0; i < n; i++)
	{
		if (kind == GROUP_CREATE)
			webflow_jsonb_put_value(&st, NULL, webflow_jsonb_root(cs[i]->payload, &root));
		else if (kind == GROUP_UPDATE || kind == GROUP_ARCHIVE || kind == GROUP_RELEASE)
			webflow_push_update_item(&st, cs[i], kind == GROUP_ARCHIVE,
									 kind == GROUP_RELEASE);
		else
			webflow_body_push_id(&st, cs[i]->item_id);
	}
	body = webflow_body_end(&st);

	switch (kind)
	{
		case GROUP_CREATE:
			method = "POST";
			path = webflow_items_path(b, b->live, NULL);
			query = "skipInvalidFiles=true";
			break;
		case GROUP_UPDATE:
		case GROUP_ARCHIVE:
			method = "PATCH";
			path = webflow_items_path(b, b->live, NULL);
			query = "skipInvalidFiles=true";
			break;
		case GROUP_RELEASE:
			/* the draft item that stays: its staged version */
			method = "PATCH";
			path = webflow_items_path(b, false, NULL);
			break;
		case GROUP_UNPUBLISH:
			method = "DELETE";
			path = webflow_items_path(b, true, NULL);
			break;
		default:
			method = "DELETE";
			path = webflow_items_path(b, false, NULL);
			break;
	}

	cls = webflow_send_request(ss, method, path, query, body, &result);
	pfree(body);
	if (cls != REQ_STOP)
	{
		SpinLockAcquire(&shared->mutex);
		shared->items_sent += n;
		SpinLockRelease(&shared->mutex);
	}
	switch (cls)
	{
		case REQ_OK:
			webflow_chunk_succeeded(cs, n, kind,
							result.body_len > 0 ? webflow_jsonb_try_parse(result.body) : NULL);
			break;
		case REQ_RETRY:
			/*
			 * A write may have happened if the request got through: a 5xx
			 * may come after Webflow made the change, and no answer tells
			 * nothing.  Only a request that never left is known not sent.
			 * No answer at all, or a gateway's 502/503/504, is the
			 * network's problem: the changes wait without an attempt
			 * counted; another 5xx counts one.
			 */
			unknown = result.outcome == WEBFLOW_HTTP_RESPONSE ||
				result.maybe_delivered || result.reconnected;
			webflow_settle(cs, n, webflow_retry_outcome(&result),
						   &result, kind == GROUP_CREATE && unknown);
			if (kind != GROUP_CREATE && unknown)
				forget_item_state(cs, n);
			break;
		case REQ_STOP:
			webflow_settle(cs, n, OUTCOME_DEFER, NULL,
				   kind == GROUP_CREATE && result.maybe_delivered);
			if (kind != GROUP_CREATE && result.maybe_delivered)
				forget_item_state(cs, n);
			break;
		case REQ_CLIENT_ERROR:
			if (n > 1)
			{
				send_chunk(ss, cs, n / 2, kind);
				send_chunk(ss, cs + n / 2, n - n / 2, kind);
			}
			else
				webflow_lone_failure(ss, cs[0], kind, &result);
			break;
	}
}

/*
 * collect_groups gathers the pending changes of one action by binding (one
 * collection and one endpoint per request); returns the number of groups.
 */
static int
collect_groups(List *changes, ChangeAction action, SendGroup **groups)
{
	int			n = list_length(changes);
	SendGroup  *gs = palloc0(sizeof(SendGroup) * Max(n, 1));
	bool	   *taken = palloc0(sizeof(bool) * Max(n, 1));
	int			ngroups = 0;
	int			i;
	int			j;

	for (i = 0; i < n; i++)
	{
		Change	   *first = list_nth(changes, i);
		SendGroup  *g;

		if (taken[i] || first->outcome != OUTCOME_PENDING || first->action != action)
			continue;
		g = &gs[ngroups++];
		g->binding = first->binding;
		g->cs = palloc(sizeof(Change *) * (n - i));
		for (j = i; j < n; j++)
		{
			Change	   *c = list_nth(changes, j);

			if (!taken[j] && c->outcome == OUTCOME_PENDING &&
				c->action == action && c->binding == first->binding)
			{
				g->cs[g->n++] = c;
				taken[j] = true;
			}
		}
	}
	pfree(taken);
	*groups = gs;
	return ngroups;
}

/*
 * next_group picks the group whose next chunk goes now: one of a stopped
 * connection first (it sends nothing), else the one whose connection may
 * send soonest, so that every connection's budget is used at once and no
 * slow or paused site holds up another.
 */
static SendGroup *
next_group(SendState *ss, SendGroup *gs, int ngroups)
{
	SendGroup  *best = NULL;
	TimestampTz best_at = 0;
	int			i;

	for (i = 0; i < ngroups; i++)
	{
		SendGroup  *g = &gs[i];
		TimestampTz at;

		if (g->sent >= g->n)
			continue;
		if (webflow_connection_stopped(ss, g->binding))
			return g;
		at = webflow_rate_next_slot(&g->binding->conn);
		if (best == NULL || at < best_at)
		{
			best = g;
			best_at = at;
		}
	}
	return best;
}

/*
 * run_groups sends every pending change of one action, a chunk at a time,
 * taking turns between the connections the changes' bindings use.
 */
static void
run_groups(SendState *ss, List *changes, GroupKind kind, ChangeAction action)
{
	SendGroup  *gs;
	SendGroup  *g;
	int			ngroups = collect_groups(changes, action, &gs);
	int			i;

	if (action == ACTION_RESOLVE)
	{
		for (i = 0; i < ngroups; i++)
		{
			webflow_use_connection(ss, gs[i].binding);
			webflow_resolve_unknown(ss, gs[i].cs, gs[i].n);
		}
		return;
	}
	while ((g = next_group(ss, gs, ngroups)) != NULL)
	{
		int			n = Min(webflow_batch_size, g->n - g->sent);

		CHECK_FOR_INTERRUPTS();
		webflow_use_connection(ss, g->binding);
		send_chunk(ss, g->cs + g->sent, n, kind);
		g->sent += n;
	}
}

/*
 * webflow_send_changes sends every change that needs a request and sets
 * each one's outcome.  Changes left undecided when sending stops are
 * deferred.
 */
void
webflow_send_changes(List *changes, PassOptions *opts)
{
	SendState	ss;
	ListCell   *lc;
	int			round;

	memset(&ss, 0, sizeof(ss));
	ss.opts = opts;
	ss.changes = changes;

	/* creates and deletes that may have reached Webflow: look them up */
	run_groups(&ss, changes, GROUP_CREATE, ACTION_RESOLVE);

	/*
	 * Deletes go first: a row whose key changed is a delete of the old key
	 * and a create of the new one, and the old item's slug must be free
	 * (and not adopted) before the new item is made.
	 */
	run_groups(&ss, changes, GROUP_ARCHIVE, ACTION_ARCHIVE);
	run_groups(&ss, changes, GROUP_UNPUBLISH, ACTION_UNPUBLISH);
	run_groups(&ss, changes, GROUP_UNPUBLISH, ACTION_UNPUBLISH_DELETE);

	/*
	 * Unpublished items that are also to be deleted go on to the delete;
	 * those that stay as drafts give up their slug (for a row whose key
	 * changed, say).
	 */
	foreach(lc, changes)
	{
		Change	   *c = lfirst(lc);

		if (c->action == ACTION_UNPUBLISH_DELETE && c->outcome == OUTCOME_DONE)
		{
			c->outcome = OUTCOME_PENDING;
			c->action = ACTION_DELETE;
		}
		else if (c->action == ACTION_UNPUBLISH && c->outcome == OUTCOME_DONE &&
				 c->item_id != NULL)
		{
			c->outcome = OUTCOME_PENDING;
			c->action = ACTION_RELEASE;
		}
	}
	run_groups(&ss, changes, GROUP_DELETE, ACTION_DELETE);
	run_groups(&ss, changes, GROUP_RELEASE, ACTION_RELEASE);

	for (round = 0; round < 3; round++)
	{
		run_groups(&ss, changes, GROUP_CREATE, ACTION_CREATE);
		run_groups(&ss, changes, GROUP_UPDATE, ACTION_UPDATE);
		if (ss.followups == NIL)
			break;
		/* adopted items are updated, vanished ones created, in this pass */
		list_free(ss.followups);
		ss.followups = NIL;
	}

	foreach(lc, changes)
	{
		Change	   *c = lfirst(lc);

		if (c->action == ACTION_DELETE && c->outcome == OUTCOME_DONE)
		{
			c->unmap = true;
			c->new_item_id = NULL;
		}
		if (c->outcome == OUTCOME_PENDING && c->action != ACTION_NONE)
			c->outcome = OUTCOME_DEFER;
	}
}
