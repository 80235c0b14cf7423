/*-------------------------------------------------------------------------
 *
 * adopt.c
 *		Settling the changes Webflow did not simply accept: a create whose
 *		earlier outcome is unknown is looked up by slug (many at once
 *		against the collection's newest items); a lone create refused for a
 *		duplicate slug adopts the existing item; a lone update of a vanished
 *		item recreates it; a live update of an unpublished item updates the
 *		staged item and publishes it.  No duplicate is ever created.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/spin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "adopt.h"
#include "api_args.h"
#include "binding.h"
#include "http.h"
#include "jsonb_util.h"
#include "publish.h"
#include "ratelimit.h"
#include "request.h"
#include "shmem.h"
#include "sql_version.h"
#include "step.h"
#include "webflow.h"

/* An item found by name in the newest-items scan, and its slug. */
typedef struct NameMatch
{
	char	   *id;
	char	   *slug;
} NameMatch;

/* An item of a listed page, and the row key webflow.items maps it to. */
typedef struct ItemOwner
{
	char	   *item_id;
	char	   *source_key;
} ItemOwner;

static char *lookup_slug(SendState *ss, Binding *b, const char *slug,
						 RequestClass *cls);
static void publish_staged(SendState *ss, Change *c);
static bool claimed_elsewhere(SendState *ss, Change *c, const char *id);
static bool mapped_to_other_row(SendState *ss, Change *c, const char *id);
static char *holder_row(SendState *ss, Change *c, const char *id, bool *queued);
static bool release_moving_slug(SendState *ss, Change *c);
static char *lookup_name(SendState *ss, Change *c, const char *name,
						 RequestClass *cls, char **slug);
static void listed_item(JsonbValue *items, int j, char **id, JsonbValue **fd, char **slug);
static bool has_name(Change *c, JsonbValue *fd);
static void archive_staged(SendState *ss, Change *c);
static bool item_has_slug(SendState *ss, Change *c);
static void resolve_found(Change *c, char *id, char *slug);
static bool has_candidate(Change *c, const char *slug);
static bool lookup_candidates(SendState *ss, Change *c);
static List *page_owners(SendState *ss, Binding *b, JsonbValue *items,
						 int count);
static bool owned_by_other(List *owners, Change *c, const char *id);
static int64 pagination_total(Jsonb *response);
static void match_page(SendState *ss, Change **cs, int n, JsonbValue *items,
					   int count, List *owners, List **names);
static bool scan_newest(SendState *ss, Change **cs, int n);
static bool slug_taken(const WebflowHttpResult *result);
static char *update_body(Change *c, bool archive_only);
static bool created_slug_taken(SendState *ss, Change *c, WebflowHttpResult *result);
static bool update_refused(SendState *ss, Change *c, WebflowHttpResult *result);
static bool removal_refused(SendState *ss, Change *c, GroupKind kind,
							WebflowHttpResult *result);

/*
 * slug_taken says whether Webflow refused a write because another item
 * (or, after a lost answer, the item itself) has the slug: a 400 whose
 * message says the unique value is taken.
 */
static bool
slug_taken(const WebflowHttpResult *result)
{
	return result->status == 400 && result->body != NULL &&
		strstr(result->body, "Unique value is already in database") != NULL;
}

/* update_body is the body of a PATCH of one change's staged item. */
static char *
update_body(Change *c, bool archive_only)
{
	JsonbParseState *st = NULL;

	webflow_body_begin(&st, "items");
	webflow_push_update_item(&st, c, archive_only, false);
	return webflow_body_end(&st);
}

/* The newest pages of a collection always read to settle unknown creates. */
#define MAX_NEWEST_PAGES 5

/*
 * lookup_slug returns the id of the item of a binding's collection that has
 * the slug, or NULL; *cls says whether the lookup itself worked.
 */
static char *
lookup_slug(SendState *ss, Binding *b, const char *slug, RequestClass *cls)
{
	WebflowHttpResult result;
	StringInfoData query;
	Jsonb	   *response;
	JsonbValue *items;
	JsonbValue *first;

	initStringInfo(&query);
	webflow_query_add(&query, "slug", slug);
	*cls = webflow_send_request(ss, "GET", webflow_items_path(b, false, NULL), query.data,
						NULL, &result);
	if (*cls != REQ_OK)
		return NULL;
	response = webflow_jsonb_try_parse(result.body);
	items = webflow_jsonb_get(response, "items");
	if (webflow_jsonb_array_size(items) < 0)
	{
		/* an answer that does not parse tells nothing: not "not found" */
		webflow_outage_observe(ss->conn, false);
		*cls = REQ_RETRY;
		return NULL;
	}
	if (webflow_jsonb_array_size(items) == 0)
		return NULL;
	first = webflow_jsonb_array_element(items, 0);
	if (!webflow_jsonb_is_object(first))
	{
		/* an answer of the wrong shape tells nothing either */
		webflow_outage_observe(ss->conn, false);
		*cls = REQ_RETRY;
		return NULL;
	}
	return webflow_jsonb_string(webflow_jsonb_container_get(first->val.binary.data, "id"));
}

/*
 * publish_staged brings a live update through when the item is not
 * published (409): update the staged item, then publish it.
 */
static void
publish_staged(SendState *ss, Change *c)
{
	WebflowHttpResult result;
	RequestClass cls;
	int			tries;

	for (tries = 0; tries < 2; tries++)
	{
		cls = webflow_send_request(ss, "PATCH", webflow_items_path(c->binding, false, NULL),
								   NULL, update_body(c, false), &result);
		/* the item has the slug already (its state was unknown): without it */
		if (cls == REQ_CLIENT_ERROR && slug_taken(&result) &&
			c->slug != NULL && (c->mapped_slug == NULL || strcmp(c->slug, c->mapped_slug) != 0) &&
			item_has_slug(ss, c))
		{
			c->mapped_slug = c->slug;
			continue;
		}
		break;
	}
	/* the staged item has the change's slug now, or an unknown one */
	c->new_item_id = c->item_id;
	if (cls == REQ_OK)
		c->mapped_slug = c->slug;
	else if (cls == REQ_RETRY)
		c->mapped_slug = NULL;
	if (cls == REQ_OK)
	{
		JsonbParseState *st = NULL;

		webflow_body_begin(&st, "itemIds");
		webflow_jsonb_put_string(&st, NULL, c->item_id);
		cls = webflow_send_request(ss, "POST", webflow_items_path(c->binding, false, "/publish"),
								   NULL, webflow_body_end(&st), &result);
	}
	if (cls == REQ_OK)
		webflow_chunk_succeeded(&c, 1, GROUP_UPDATE, NULL);
	else if (cls == REQ_RETRY)
		webflow_settle(&c, 1, webflow_retry_outcome(&result), &result, false);
	else if (cls == REQ_STOP)
		webflow_settle(&c, 1, OUTCOME_DEFER, NULL, false);
	else
		webflow_settle(&c, 1, OUTCOME_FAILED, &result, false);
}

/*
 * created_slug_taken handles a create refused because the slug is taken:
 * the item may be this row's own (an earlier attempt made it).  It
 * returns false when the refusal stands.
 */
static bool
created_slug_taken(SendState *ss, Change *c, WebflowHttpResult *result)
{
	RequestClass cls;
	char	   *id = lookup_slug(ss, c->binding, c->slug, &cls);

	if (id != NULL && !claimed_elsewhere(ss, c, id) && !mapped_to_other_row(ss, c, id))
	{
		/*
		 * The item is there already (an earlier attempt made it): adopt
		 * it, and map it even if the update that follows fails.
		 */
		c->item_id = id;
		c->new_item_id = id;
		c->mapped_slug = c->slug;
		c->action = ACTION_UPDATE;
		ss->followups = lappend(ss->followups, c);
		return true;
	}
	if (cls == REQ_STOP)
	{
		webflow_settle(&c, 1, OUTCOME_DEFER, NULL, false);
		return true;
	}
	if (cls == REQ_RETRY)
	{
		/*
		 * The item may be ours (an earlier attempt, or libcurl sending
		 * the create again on a new connection): the create's outcome
		 * stays unknown until a lookup that worked says otherwise.
		 */
		webflow_settle(&c, 1, OUTCOME_WAIT, result, true);
		return true;
	}
	if (id != NULL)
	{
		/*
		 * Another row owns the item with the slug: one of this pass (a
		 * row whose key changed, whose delete did not go through yet),
		 * or one whose rename or delete is still to come.  Try again
		 * later; if the slug stays taken, the row fails in the end.
		 */
		webflow_settle(&c, 1, OUTCOME_RETRY, result, false);
		return true;
	}
	return false;
}

/*
 * update_refused handles an update refused for its slug, because its item
 * is gone (404) or is not published (409).  It returns false when the
 * refusal stands.
 */
static bool
update_refused(SendState *ss, Change *c, WebflowHttpResult *result)
{
	if (slug_taken(result) &&
		c->slug != NULL && item_has_slug(ss, c))
	{
		/*
		 * An earlier update (whose answer was lost) gave the item this
		 * slug already, and Webflow refuses to be sent an item's own slug:
		 * send the update again without it.
		 */
		c->mapped_slug = c->slug;
		ss->followups = lappend(ss->followups, c);
		return true;
	}
	if (slug_taken(result) &&
		c->slug != NULL)
	{
		/*
		 * Another item has the slug: a row whose rename or delete is still
		 * to come, most likely.  Try again later; if the slug stays taken,
		 * the row fails in the end.
		 */
		webflow_settle(&c, 1, OUTCOME_RETRY, result, false);
		return true;
	}
	if (result->status == 404)
	{
		/* the item was deleted in Webflow: make it again */
		c->item_id = NULL;
		c->new_item_id = NULL;
		c->mapped_slug = NULL;
		c->unmap = true;
		c->action = ACTION_CREATE;
		ss->followups = lappend(ss->followups, c);
		return true;
	}
	if (result->status == 409 && c->binding->live)
	{
		publish_staged(ss, c);
		return true;
	}
	return false;
}

/*
 * removal_refused handles an unpublish, archive, slug release or delete
 * that was refused: done already, or to be done another way.  It returns
 * false when the refusal stands.
 */
static bool
removal_refused(SendState *ss, Change *c, GroupKind kind, WebflowHttpResult *result)
{
	if ((kind == GROUP_ARCHIVE || kind == GROUP_RELEASE) && slug_taken(result) &&
		c->item_id != NULL)
	{
		/*
		 * The released slug is unique to the item: only the item itself can
		 * hold it (an earlier request whose answer was lost gave it).  Send
		 * the rest again without it.
		 */
		c->mapped_slug = webflow_released_slug(c->mapped_slug, c->item_id);
		c->new_item_id = c->item_id;
		if (kind == GROUP_RELEASE)
			webflow_chunk_succeeded(&c, 1, kind, NULL);
		else
			webflow_settle(&c, 1, OUTCOME_RETRY, result, false);
		return true;
	}
	if (kind == GROUP_ARCHIVE && result->status == 409 && c->binding->live)
	{
		/* not published (unpublished in the Designer, say): archive the draft */
		archive_staged(ss, c);
		return true;
	}
	if ((kind == GROUP_UNPUBLISH || kind == GROUP_DELETE || kind == GROUP_ARCHIVE ||
		 kind == GROUP_RELEASE) &&
		(result->status == 404 || (kind == GROUP_UNPUBLISH && result->status == 409)))
	{
		/* already gone, or already unpublished */
		webflow_chunk_succeeded(&c, 1, kind, NULL);
		return true;
	}
	return false;
}

/* webflow_lone_failure handles a client error that a single change got. */
void
webflow_lone_failure(SendState *ss, Change *c, GroupKind kind, WebflowHttpResult *result)
{
	bool		handled;

	if ((kind == GROUP_CREATE || kind == GROUP_UPDATE) && slug_taken(result) &&
		c->slug != NULL && release_moving_slug(ss, c))
		return;
	if (kind == GROUP_CREATE)
		handled = slug_taken(result) && c->slug != NULL &&
			created_slug_taken(ss, c, result);
	else if (kind == GROUP_UPDATE)
		handled = update_refused(ss, c, result);
	else
		handled = removal_refused(ss, c, kind, result);
	if (!handled)
		webflow_settle(&c, 1, OUTCOME_FAILED, result, false);
}

/*
 * archive_staged archives a change's item in its staged version (an item
 * that is not live refuses a live PATCH with 409).
 */
static void
archive_staged(SendState *ss, Change *c)
{
	WebflowHttpResult result;
	RequestClass cls;

	cls = webflow_send_request(ss, "PATCH", webflow_items_path(c->binding, false, NULL),
							   NULL, update_body(c, true), &result);
	if (cls == REQ_OK)
		webflow_chunk_succeeded(&c, 1, GROUP_ARCHIVE, NULL);
	else if (cls == REQ_RETRY)
	{
		webflow_settle(&c, 1, webflow_retry_outcome(&result), &result, false);
		/* (it may have been carried out: its slug is not known now) */
		c->new_item_id = c->item_id;
		c->mapped_slug = NULL;
	}
	else if (cls == REQ_STOP)
		webflow_settle(&c, 1, OUTCOME_DEFER, NULL, false);
	else if (result.status == 404)
		webflow_chunk_succeeded(&c, 1, GROUP_ARCHIVE, NULL);
	else
		webflow_settle(&c, 1, OUTCOME_FAILED, &result, false);
}

/*
 * release_moving_slug frees a slug that an item of another row of this pass
 * holds while that row moves to another slug (two rows that swap names):
 * the holder gives the slug up for a released one (its own update sets its
 * new slug), and the change is sent again.  It returns false when the
 * holder is not such an item (a real conflict, or no item at all).
 */
static bool
release_moving_slug(SendState *ss, Change *c)
{
	RequestClass cls;
	char	   *holder = lookup_slug(ss, c->binding, c->slug, &cls);
	Change	   *other = NULL;
	ListCell   *lc;
	WebflowHttpResult result;
	JsonbParseState *st = NULL;
	char	   *released;

	if (holder == NULL)
		return false;
	foreach(lc, ss->changes)
	{
		Change	   *o = lfirst(lc);

		if (o != c && o->binding == c->binding && !o->is_delete &&
			o->item_id != NULL && strcmp(o->item_id, holder) == 0)
			other = o;
	}
	if (other == NULL && !claimed_elsewhere(ss, c, holder))
	{
		/*
		 * The holder's row is not in this pass: if it is queued (a rename
		 * or a delete that frees the slug, waiting for its backoff), the
		 * two must meet in one pass, or each waits for the other forever.
		 */
		c->slug_holder_key = holder_row(ss, c, holder, &c->slug_holder_queued);
		return false;
	}
	/* (a row that keeps the slug holds it for good: a real conflict) */
	if (other == NULL || other->slug == NULL || strcmp(other->slug, c->slug) == 0 ||
		other->outcome == OUTCOME_FAILED)
		return false;
	released = webflow_released_slug(c->slug, holder);
	webflow_body_begin(&st, "items");
	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	webflow_jsonb_put_string(&st, "id", holder);
	webflow_jsonb_put_key(&st, "fieldData");
	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	webflow_jsonb_put_string(&st, "slug", released);
	pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	if (webflow_send_request(ss, "PATCH", webflow_items_path(c->binding, false, NULL),
							 NULL, webflow_body_end(&st), &result) != REQ_OK)
		return false;
	/* the holder's own update now sends its new slug, again if it failed */
	other->mapped_slug = released;
	if (other->outcome == OUTCOME_RETRY && other->action == ACTION_UPDATE)
	{
		other->outcome = OUTCOME_PENDING;
		other->error = NULL;
		other->status = 0;
	}
	c->outcome = OUTCOME_PENDING;
	ss->followups = lappend(ss->followups, c);
	return true;
}

/*
 * listed_item reads the j-th item of a list answer: its id, its fieldData
 * and the slug in it (NULLs for what it lacks or an element that is no
 * object).
 */
static void
listed_item(JsonbValue *items, int j, char **id, JsonbValue **fd, char **slug)
{
	JsonbValue *e = webflow_jsonb_array_element(items, j);

	*id = NULL;
	*fd = NULL;
	*slug = NULL;
	if (!webflow_jsonb_is_object(e))
		return;
	*id = webflow_jsonb_string(webflow_jsonb_container_get(e->val.binary.data, "id"));
	*fd = webflow_jsonb_container_get(e->val.binary.data, "fieldData");
	if (webflow_jsonb_is_object(*fd))
		*slug = webflow_jsonb_string(webflow_jsonb_container_get((*fd)->val.binary.data, "slug"));
}

/*
 * has_name says whether an item's fieldData has one of the names a
 * change's item may have.
 */
static bool
has_name(Change *c, JsonbValue *fd)
{
	char	   *theirs;
	ListCell   *lc;

	if (!webflow_jsonb_is_object(fd))
		return false;
	theirs = webflow_jsonb_string(webflow_jsonb_container_get(fd->val.binary.data, "name"));
	if (theirs == NULL)
		return false;
	foreach(lc, c->candidate_names)
		if (strcmp(theirs, (char *) lfirst(lc)) == 0)
			return true;
	return false;
}

/* item_has_slug says whether a change's item has the change's slug now. */
static bool
item_has_slug(SendState *ss, Change *c)
{
	WebflowHttpResult result;
	JsonbValue *fd;
	char	   *slug;

	if (webflow_send_request(ss, "GET",
							 psprintf("/collections/%s/items/%s",
									  c->binding->collection_id, c->item_id),
							 NULL, NULL, &result) != REQ_OK)
		return false;
	fd = webflow_jsonb_get(webflow_jsonb_try_parse(result.body), "fieldData");
	slug = webflow_jsonb_is_object(fd) ?
		webflow_jsonb_string(webflow_jsonb_container_get(fd->val.binary.data, "slug")) : NULL;
	return slug != NULL && strcmp(slug, c->slug) == 0;
}

/*
 * mapped_to_other_row says whether webflow.items maps the item to another
 * row of the binding's collection (two rows that want one slug), in a
 * short read-only step of its own.
 */
static bool
mapped_to_other_row(SendState *ss, Change *c, const char *id)
{
	Oid			types[3] = {TEXTOID, TEXTOID, TEXTOID};
	Datum		args[3];
	bool		owned;
	MemoryContext cxt = CurrentMemoryContext;

	args[0] = CStringGetTextDatum(c->binding->collection_id);
	args[1] = CStringGetTextDatum(id);
	args[2] = CStringGetTextDatum(c->row_key);
	webflow_step_begin(ss->opts);
	if (SPI_execute_with_args("SELECT 1 FROM webflow.items WHERE collection_id = $1"
							  " AND item_id = $2 AND source_key <> $3",
							  3, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read webflow.items");
	owned = SPI_processed > 0;
	webflow_step_end(ss->opts);
	MemoryContextSwitchTo(cxt);
	return owned;
}

/*
 * holder_row returns the key of the other row of the binding that
 * webflow.items maps the item to, or NULL, and sets *queued when that row
 * has a change queued, in a short read-only step.
 */
static char *
holder_row(SendState *ss, Change *c, const char *id, bool *queued)
{
	Oid			types[3] = {TEXTOID, TEXTOID, TEXTOID};
	Datum		args[3];
	char	   *key = NULL;
	MemoryContext cxt = CurrentMemoryContext;

	args[0] = CStringGetTextDatum(c->binding->collection_id);
	args[1] = CStringGetTextDatum(id);
	args[2] = CStringGetTextDatum(c->row_key);
	*queued = false;
	webflow_step_begin(ss->opts);
	/*
	 * (the holder may be a row of any table bound to the collection, whose
	 * item map they share: its change is looked for in each of their
	 * bindings; fresh rows are in outbox_fresh, put-back ones in
	 * outbox_row; from 1.1 on a change may be packed still)
	 */
	if (SPI_execute_with_args(psprintf("SELECT i.source_key, EXISTS (SELECT 1 FROM webflow.outbox o"
									   "   WHERE o.binding_id IN (SELECT b.id FROM webflow.bindings b WHERE b.collection_id = $1) AND o.row_key = i.source_key"
									   "     AND o.state = 'pending' AND " OUTBOX_ROW_PREDICATE("o") ")"
									   "  OR EXISTS (SELECT 1 FROM webflow.outbox o"
									   "   WHERE o.binding_id IN (SELECT b.id FROM webflow.bindings b WHERE b.collection_id = $1) AND o.row_key = i.source_key"
									   "     AND " OUTBOX_FRESH_PREDICATE("o") ")%s"
									   " FROM webflow.items i WHERE i.collection_id = $1"
									   " AND i.item_id = $2 AND i.source_key <> $3",
									   webflow_sql_has_table("outbox_packed") ?
									   "  OR EXISTS (SELECT 1 FROM webflow.outbox_packed p"
									   "   WHERE p.binding_id IN (SELECT b.id FROM webflow.bindings b WHERE b.collection_id = $1) AND i.source_key = ANY (p.row_keys))" : ""),
							  3, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read webflow.items");
	if (SPI_processed > 0)
	{
		bool		isnull;

		key = MemoryContextStrdup(cxt, SPI_getvalue(SPI_tuptable->vals[0],
													SPI_tuptable->tupdesc, 1));
		*queued = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
											 SPI_tuptable->tupdesc, 2, &isnull));
	}
	webflow_step_end(ss->opts);
	MemoryContextSwitchTo(cxt);
	return key;
}

/*
 * page_owners reads, in one short step, which row keys webflow.items maps
 * the items of a listed page to (a List of ItemOwner).
 */
static List *
page_owners(SendState *ss, Binding *b, JsonbValue *items, int count)
{
	Oid			types[2] = {TEXTOID, TEXTARRAYOID};
	Datum		args[2];
	Datum	   *ids = palloc(sizeof(Datum) * Max(count, 1));
	int			nids = 0;
	List	   *owners = NIL;
	MemoryContext cxt = CurrentMemoryContext;
	uint64		r;
	int			j;

	for (j = 0; j < count; j++)
	{
		char	   *id;
		JsonbValue *fd;
		char	   *slug;

		listed_item(items, j, &id, &fd, &slug);
		if (id != NULL)
			ids[nids++] = CStringGetTextDatum(id);
	}
	if (nids == 0)
		return NIL;
	args[0] = CStringGetTextDatum(b->collection_id);
	args[1] = PointerGetDatum(construct_array(ids, nids, TEXTOID, -1, false, TYPALIGN_INT));
	webflow_step_begin(ss->opts);
	if (SPI_execute_with_args("SELECT item_id, source_key FROM webflow.items"
							  " WHERE collection_id = $1 AND item_id = ANY ($2)",
							  2, types, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read webflow.items");
	for (r = 0; r < SPI_processed; r++)
	{
		ItemOwner  *o = MemoryContextAlloc(cxt, sizeof(ItemOwner));

		o->item_id = MemoryContextStrdup(cxt, SPI_getvalue(SPI_tuptable->vals[r],
														   SPI_tuptable->tupdesc, 1));
		o->source_key = MemoryContextStrdup(cxt, SPI_getvalue(SPI_tuptable->vals[r],
															  SPI_tuptable->tupdesc, 2));
		owners = lappend(owners, o);
	}
	webflow_step_end(ss->opts);
	MemoryContextSwitchTo(cxt);
	return owners;
}

/* owned_by_other says whether page_owners maps the item to another row. */
static bool
owned_by_other(List *owners, Change *c, const char *id)
{
	ListCell   *lc;

	foreach(lc, owners)
	{
		ItemOwner  *o = lfirst(lc);

		if (strcmp(o->item_id, id) == 0 && strcmp(o->source_key, c->row_key) != 0)
			return true;
	}
	return false;
}

/*
 * claimed_elsewhere says whether another change of the pass maps to the
 * item (a row whose key changed still owns its old item, say).
 */
static bool
claimed_elsewhere(SendState *ss, Change *c, const char *id)
{
	ListCell   *lc;

	foreach(lc, ss->changes)
	{
		Change	   *other = lfirst(lc);

		if (other != c && other->item_id != NULL && strcmp(other->item_id, id) == 0)
			return true;
	}
	return false;
}

/* has_candidate says whether a slug is one a change's item may have. */
static bool
has_candidate(Change *c, const char *slug)
{
	ListCell   *lc;

	foreach(lc, c->candidate_slugs)
		if (strcmp((char *) lfirst(lc), slug) == 0)
			return true;
	return false;
}

/*
 * resolve_found settles a change whose item was found (id, with its slug;
 * the caller made sure no other row owns it), or not found (NULL): a
 * create updates the item found, or creates it; a delete deletes the item
 * found, or has nothing to do.
 */
static void
resolve_found(Change *c, char *id, char *slug)
{
	if (id != NULL)
	{
		/* mapped from now on, whatever becomes of the request that follows */
		c->item_id = id;
		c->new_item_id = id;
		c->mapped_slug = slug;	/* an update then changes it if the row did */
		c->action = c->is_delete ? webflow_delete_action(c->binding) : ACTION_UPDATE;
		if (c->action == ACTION_NONE)
			c->outcome = OUTCOME_DONE;
	}
	else if (c->is_delete)
	{
		c->action = ACTION_NONE;
		c->outcome = OUTCOME_DONE;
	}
	else
		c->action = ACTION_CREATE;
}

/*
 * lookup_name looks for an item of the change's collection named like the
 * change's item that no other row owns (a create whose answer was lost,
 * whose slug was changed in the Designer since); it returns its id and
 * sets *slug, or NULL; *cls says whether the lookup itself worked.
 */
static char *
lookup_name(SendState *ss, Change *c, const char *name, RequestClass *cls, char **slug)
{
	WebflowHttpResult result;
	StringInfoData query;
	JsonbValue *items;
	int			n;
	int			j;

	initStringInfo(&query);
	webflow_query_add(&query, "name", name);
	*cls = webflow_send_request(ss, "GET", webflow_items_path(c->binding, false, NULL),
								query.data, NULL, &result);
	if (*cls != REQ_OK)
		return NULL;
	items = webflow_jsonb_get(webflow_jsonb_try_parse(result.body), "items");
	n = webflow_jsonb_array_size(items);
	if (n < 0)
	{
		webflow_outage_observe(ss->conn, false);
		*cls = REQ_RETRY;
		return NULL;
	}
	for (j = 0; j < n; j++)
	{
		char	   *id;
		JsonbValue *fd;

		listed_item(items, j, &id, &fd, slug);
		if (id == NULL || claimed_elsewhere(ss, c, id) || mapped_to_other_row(ss, c, id))
			continue;
		return id;
	}
	*slug = NULL;
	return NULL;
}

/*
 * lookup_candidates looks a change's candidate slugs up one by one, then
 * its names, and settles it; it returns false when a lookup could not be
 * made.
 */
static bool
lookup_candidates(SendState *ss, Change *c)
{
	ListCell   *lc;

	foreach(lc, c->candidate_slugs)
	{
		RequestClass cls;
		char	   *slug = lfirst(lc);
		char	   *id = lookup_slug(ss, c->binding, slug, &cls);

		if (cls != REQ_OK)
			return false;
		if (id != NULL && !claimed_elsewhere(ss, c, id) && !mapped_to_other_row(ss, c, id))
		{
			resolve_found(c, id, slug);
			return true;
		}
	}
	/* (the item's slug may have been changed in Webflow since: its names) */
	foreach(lc, c->candidate_names)
	{
		RequestClass cls;
		char	   *slug = NULL;
		char	   *id = lookup_name(ss, c, lfirst(lc), &cls, &slug);

		if (cls != REQ_OK)
			return false;
		if (id != NULL)
		{
			resolve_found(c, id, slug);
			return true;
		}
	}
	resolve_found(c, NULL, NULL);
	return true;
}

/* pagination_total is the "total" of a list answer's pagination, or -1. */
static int64
pagination_total(Jsonb *response)
{
	JsonbValue *pagination = webflow_jsonb_get(response, "pagination");
	JsonbValue *total;
	char	   *text;
	char	   *end;
	long long	value;

	if (!webflow_jsonb_is_object(pagination))
		return -1;
	total = webflow_jsonb_container_get(pagination->val.binary.data, "total");
	if (total == NULL || total->type != jbvNumeric)
		return -1;
	text = webflow_jsonb_value_text(total);
	errno = 0;
	value = strtoll(text, &end, 10);
	if (errno != 0 || *end != '\0' || value < 0)
		return -1;
	return (int64) value;
}

/*
 * match_page settles the changes that one of the slugs their row was sent
 * with matches an item of a page of the newest items; for the others it
 * notes the items that have one of their names, newest first (names[i];
 * used only when no item has their slugs: a newer item with the name,
 * made in the Designer, say, is not theirs if one has the slug; and one
 * another change then takes by its slug is not theirs either).  Items
 * other rows own are passed over.
 */
static void
match_page(SendState *ss, Change **cs, int n, JsonbValue *items, int count,
		   List *owners, List **names)
{
	int			i;
	int			j;

	for (j = 0; j < count; j++)
	{
		char	   *id;
		JsonbValue *fd;
		char	   *slug;

		listed_item(items, j, &id, &fd, &slug);

		for (i = 0; slug != NULL && id != NULL && i < n; i++)
		{
			if (cs[i]->action != ACTION_RESOLVE ||
				claimed_elsewhere(ss, cs[i], id) || owned_by_other(owners, cs[i], id))
				continue;
			if (has_candidate(cs[i], slug))
				resolve_found(cs[i], id, slug);
			else if (has_name(cs[i], fd))
			{
				NameMatch  *m = palloc(sizeof(NameMatch));

				m->id = id;
				m->slug = slug;
				names[i] = lappend(names[i], m);
			}
		}
	}
}

/*
 * scan_newest reads the collection's newest items page by page (a lost
 * create is among the newest), a few pages, and on to the end of the
 * collection when that costs no more requests than looking the rest up
 * one by one, and settles the changes it finds the items of.  It returns
 * whether it saw the whole collection: the changes it did not settle then
 * have no item.
 */
static bool
scan_newest(SendState *ss, Change **cs, int n)
{
	Binding    *b = cs[0]->binding;
	List	  **names = palloc0(sizeof(List *) * n);
	int			p;
	int			i;
	int			unresolved = n;
	int64		total = -1;
	bool		complete = false;
	bool		shifted = false;

	for (p = 0; !ss->stop && unresolved > 0; p++)
	{
		WebflowHttpResult result;
		char	   *query = psprintf("sortBy=createdOn&sortOrder=desc&limit=100&offset=%d",
									 p * WEBFLOW_MAX_BATCH);
		Jsonb	   *response;
		JsonbValue *items;
		int			count;
		int64		pages_left;

		if (p >= Min(n / WEBFLOW_MAX_BATCH + 2, MAX_NEWEST_PAGES))
		{
			pages_left = total < 0 ? -1 :
				(total - (int64) p * WEBFLOW_MAX_BATCH + WEBFLOW_MAX_BATCH - 1) / WEBFLOW_MAX_BATCH;
			if (pages_left < 0 || pages_left > unresolved)
				break;
		}
		if (webflow_send_request(ss, "GET", webflow_items_path(b, false, NULL),
								 query, NULL, &result) != REQ_OK)
			break;
		response = webflow_jsonb_try_parse(result.body);
		if (p > 0 && pagination_total(response) != total)
			shifted = true;		/* items came or went between pages */
		total = pagination_total(response);
		items = webflow_jsonb_get(response, "items");
		count = webflow_jsonb_array_size(items);
		if (count < 0)
		{
			/* a page that does not parse is no end of the collection */
			webflow_outage_observe(ss->conn, false);
			break;
		}
		match_page(ss, cs, n, items, count, page_owners(ss, b, items, count), names);
		unresolved = 0;
		for (i = 0; i < n; i++)
			unresolved += cs[i]->action == ACTION_RESOLVE;
		if (count < WEBFLOW_MAX_BATCH ||
			(total >= 0 && (int64) p * WEBFLOW_MAX_BATCH + count >= total))
		{
			/*
			 * We saw the whole collection, unless pages shifted under us,
			 * or a short page lists fewer items than its total says (no end
			 * of the collection either).
			 */
			complete = !shifted &&
				(total < 0 || (int64) p * WEBFLOW_MAX_BATCH + count >= total);
			break;
		}
	}
	/*
	 * no item has their slugs: the newest item with one of their names that
	 * no other change took (by its slug, say), the whole collection seen
	 */
	for (i = 0; complete && i < n; i++)
	{
		ListCell   *lc;

		foreach(lc, names[i])
		{
			NameMatch  *m = lfirst(lc);

			if (cs[i]->action != ACTION_RESOLVE)
				break;
			if (!claimed_elsewhere(ss, cs[i], m->id))
				resolve_found(cs[i], m->id, m->slug);
		}
	}
	return complete;
}

/*
 * webflow_resolve_unknown settles changes whose earlier create may have
 * reached Webflow, by looking for an item with one of the slugs the row
 * was sent with, then with one of the names it was sent with.  Many at
 * once are matched against the collection's newest items; a few are
 * looked up one by one.
 */
void
webflow_resolve_unknown(SendState *ss, Change **cs, int n)
{
	int			i;
	bool		complete = n > 3 && scan_newest(ss, cs, n);

	for (i = 0; i < n && !ss->stop; i++)
	{
		if (cs[i]->action != ACTION_RESOLVE)
			continue;
		if (complete)
			resolve_found(cs[i], NULL, NULL);
		else
			/* items made long ago may lie beyond the pages read */
			(void) lookup_candidates(ss, cs[i]);
	}
	/*
	 * What could not be looked up waits (the network's problem, not the
	 * row's: no attempt counted), after the queue's outage delay, or at
	 * once when the pass was only stopped; its rows keep the marks they
	 * have (nothing of its newest state was sent: no new mark).
	 */
	for (i = 0; i < n; i++)
		if (cs[i]->action == ACTION_RESOLVE)
			webflow_settle(&cs[i], 1, ss->stop ? OUTCOME_DEFER : OUTCOME_WAIT, NULL, false);
}
