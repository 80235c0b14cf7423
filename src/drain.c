/*-------------------------------------------------------------------------
 *
 * drain.c
 *		One pass over webflow.outbox: claim, send, record.  The background
 *		worker runs passes in a loop; webflow.drain() runs them in the
 *		calling session (for pg_cron, or where no worker may run).
 *
 * A pass:
 *	1. (a short transaction) takes the drain lock, so that passes never
 *	   overlap; puts back rows a dead process left "sending", marking them
 *	   maybe sent; claims due rows with FOR UPDATE SKIP LOCKED, together
 *	   with every other pending row of the same row keys, and marks them
 *	   "sending"; keeps only the newest state per (binding, row key); reads
 *	   the item map and builds each payload (a row whose payload cannot be
 *	   built fails alone, with the reason);
 *	2. (no transaction, in the worker) sends, see send.c;
 *	3. (a short transaction) records: item ids into webflow.items, done rows
 *	   deleted, the others back to pending with a backoff, or failed.
 * In the worker each step commits; a session's drain() cannot commit in
 * the middle of a statement, so there the three steps share the caller's
 * transaction.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/spin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/lsyscache.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"
#include "utils/snapmgr.h"

#include "api.h"
#include "drain.h"
#include "jsonb_util.h"
#include "outbox.h"
#include "payload.h"
#include "publish.h"
#include "shmem.h"
#include "webflow.h"

PG_FUNCTION_INFO_V1(webflow_drain);
PG_FUNCTION_INFO_V1(webflow_payload_hash);

/* the key of the drain lock (pg_advisory_lock(int4, int4)) */
#define DRAIN_LOCK_SQL_ARGS "7769, 1"

/* Longest a session's drain() waits for the rate limiter, in ms. */
#define SESSION_MAX_WAIT_MS 10000

static void step_begin(PassOptions *opts);
static void step_end(PassOptions *opts);
static bool take_lock(PassOptions *opts);
static List *claim(int max_rows, MemoryContext cxt, int *nrows);
static Binding *load_binding(HTAB *bindings, int32 id, MemoryContext cxt);
static Jsonb *binding_payload_options(Jsonb *options, const char *collection,
									  ArrayType *keys);
static void plan_change(Change *c, SPIPlanPtr map_plan, MemoryContext cxt);
static void build_payload(Change *c, MemoryContext cxt);
static int64 record(List *changes);
static void exec_arrays(const char *sql, int nargs, Oid *types, Datum *args);
static char *payload_hash(Jsonb *payload);
static double backoff_seconds(int attempts);
static int64 *box_id(int64 id);

/* step_begin opens a step: a transaction of its own in the worker. */
static void
step_begin(PassOptions *opts)
{
	if (opts->in_worker)
	{
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
	}
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

/* step_end closes a step: the worker commits it. */
static void
step_end(PassOptions *opts)
{
	SPI_finish();
	if (opts->in_worker)
	{
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	else
		CommandCounterIncrement();
}

/*
 * take_lock takes the drain lock so that passes never overlap: for the
 * worker's session until it lets go, for a session's drain() until its
 * transaction ends.
 */
static bool
take_lock(PassOptions *opts)
{
	bool		isnull;
	int			ret;

	ret = SPI_execute(opts->in_worker ?
					  "SELECT pg_catalog.pg_try_advisory_lock(" DRAIN_LOCK_SQL_ARGS ")" :
					  "SELECT pg_catalog.pg_try_advisory_xact_lock(" DRAIN_LOCK_SQL_ARGS ")",
					  false, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		return false;
	return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
									  SPI_tuptable->tupdesc, 1, &isnull));
}

/* webflow_drain_unlock lets go of the worker's drain lock. */
void
webflow_drain_unlock(void)
{
	SPI_execute("SELECT pg_catalog.pg_advisory_unlock(" DRAIN_LOCK_SQL_ARGS ")",
				false, 1);
}

/*
 * binding_payload_options turns binding options into item_payload options:
 * the trigger's own keys go, the collection comes in, and key columns are
 * left out of the item unless "fields" maps them.
 */
static Jsonb *
binding_payload_options(Jsonb *options, const char *collection, ArrayType *keys)
{
	StringInfoData buf;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;
	JsonbValue *fields = webflow_jsonb_get(options, "fields");
	JsonbValue *exclude = webflow_jsonb_get(options, "exclude");
	Datum	   *elems;
	bool	   *nulls;
	int			nkeys;
	int			i;
	bool		first_exclude = true;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"collection\": ");
	escape_json(&buf, collection);
	it = JsonbIteratorInit(&options->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			key = pnstrdup(v.val.string.val, v.val.string.len);
		else if (tok == WJB_VALUE)
		{
			if (strcmp(key, "key") == 0 || strcmp(key, "on_delete") == 0 ||
				strcmp(key, "live") == 0 || strcmp(key, "collection") == 0 ||
				strcmp(key, "exclude") == 0)
				continue;
			appendStringInfoString(&buf, ", ");
			escape_json(&buf, key);
			appendStringInfoString(&buf, ": ");
			appendStringInfoString(&buf, webflow_jsonb_value_text(&v));
		}
	}
	appendStringInfoString(&buf, ", \"exclude\": [");
	for (i = 0; exclude != NULL && i < webflow_jsonb_array_size(exclude); i++)
	{
		if (!first_exclude)
			appendStringInfoString(&buf, ", ");
		first_exclude = false;
		appendStringInfoString(&buf, webflow_jsonb_value_text(webflow_jsonb_array_element(exclude, i)));
	}
	deconstruct_array(keys, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &nkeys);
	for (i = 0; i < nkeys; i++)
	{
		char	   *col = TextDatumGetCString(elems[i]);

		if (webflow_jsonb_is_object(fields) &&
			webflow_jsonb_container_get(fields->val.binary.data, col) != NULL)
			continue;
		if (!first_exclude)
			appendStringInfoString(&buf, ", ");
		first_exclude = false;
		escape_json(&buf, col);
	}
	appendStringInfoString(&buf, "]}");
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

/* load_binding returns a binding of the pass, reading it on first use. */
static Binding *
load_binding(HTAB *bindings, int32 id, MemoryContext cxt)
{
	struct
	{
		int32		id;
		Binding    *b;
	}		   *entry;
	bool		found;
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1];
	MemoryContext old;
	Binding    *b;
	bool		isnull;
	Jsonb	   *options;
	ArrayType  *keys;
	JsonbValue *v;

	entry = hash_search(bindings, &id, HASH_ENTER, &found);
	if (found)
		return entry->b;
	entry->b = NULL;
	args[0] = Int32GetDatum(id);
	if (SPI_execute_with_args("SELECT collection_id, options, key_columns "
							  "FROM webflow.bindings WHERE id OPERATOR(pg_catalog.=) $1",
							  1, argtypes, args, NULL, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		return NULL;			/* unbound since: its rows are dropped */

	old = MemoryContextSwitchTo(cxt);
	b = palloc0(sizeof(Binding));
	b->id = id;
	b->collection_id = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	options = DatumGetJsonbPCopy(SPI_getbinval(SPI_tuptable->vals[0],
											   SPI_tuptable->tupdesc, 2, &isnull));
	keys = DatumGetArrayTypePCopy(SPI_getbinval(SPI_tuptable->vals[0],
												SPI_tuptable->tupdesc, 3, &isnull));
	v = webflow_jsonb_get(options, "on_delete");
	b->on_delete = v ? webflow_jsonb_string(v) : pstrdup("unpublish");
	if (b->on_delete == NULL)
		b->on_delete = pstrdup("unpublish");
	v = webflow_jsonb_get(options, "live");
	b->live = !(v != NULL && v->type == jbvBool && !v->val.boolean);
	b->payload_options = binding_payload_options(options, b->collection_id, keys);
	MemoryContextSwitchTo(old);
	entry->b = b;
	return b;
}

/* box_id returns a palloc'd copy of an outbox row id, for a List. */
static int64 *
box_id(int64 id)
{
	int64	   *p = palloc(sizeof(int64));

	*p = id;
	return p;
}

/*
 * claim marks up to max_rows due rows "sending", with every other pending
 * row of their row keys, and returns the newest state per row key as a
 * list of Change.  *nrows is the number of rows claimed.
 */
static List *
claim(int max_rows, MemoryContext cxt, int *nrows)
{
	Oid			argtypes[1] = {INT4OID};
	Datum		args[1];
	HTAB	   *bindings;
	HASHCTL		ctl;
	List	   *result = NIL;
	Change	   *c = NULL;
	SPITupleTable *rows;
	uint64		nrows_claimed;
	uint64		i;
	int			ret;

	args[0] = Int32GetDatum(max_rows);
	ret = SPI_execute_with_args(
								"WITH due AS ("
								"  SELECT id, binding_id, row_key FROM webflow.outbox"
								"  WHERE state OPERATOR(pg_catalog.=) 'pending'"
								"    AND next_attempt_at OPERATOR(pg_catalog.<=) pg_catalog.now()"
								"  ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED),"
								" same_key AS ("
								"  SELECT o.id FROM webflow.outbox o"
								"  JOIN (SELECT DISTINCT binding_id, row_key FROM due) k"
								"    ON o.binding_id OPERATOR(pg_catalog.=) k.binding_id"
								"   AND o.row_key OPERATOR(pg_catalog.=) k.row_key"
								"  WHERE o.state OPERATOR(pg_catalog.=) 'pending'"
								"  FOR UPDATE OF o SKIP LOCKED),"
								" claimed AS ("
								"  UPDATE webflow.outbox o SET state = 'sending', claimed_at = pg_catalog.now()"
								"  WHERE o.id IN (SELECT id FROM due UNION SELECT id FROM same_key)"
								"  RETURNING o.id, o.binding_id, o.op, o.row_key, o.row_image,"
								"    o.attempts, o.maybe_sent)"
								" SELECT * FROM claimed ORDER BY binding_id, row_key, id",
								1, argtypes, args, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not claim outbox rows: %s", SPI_result_code_string(ret));
	*nrows = (int) SPI_processed;
	if (SPI_processed == 0)
		return NIL;
	/* load_binding runs queries of its own: keep hold of this result */
	rows = SPI_tuptable;
	nrows_claimed = SPI_processed;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int32);
	ctl.entrysize = sizeof(int32) + sizeof(Binding *) + 8;
	ctl.hcxt = cxt;
	bindings = hash_create("webflow pass bindings", 16, &ctl,
						   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	/* rows come sorted by row key, then age: the last of a key wins */
	for (i = 0; i < nrows_claimed; i++)
	{
		HeapTuple	tup = rows->vals[i];
		TupleDesc	desc = rows->tupdesc;
		bool		isnull;
		int64		id = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		int32		binding_id = DatumGetInt32(SPI_getbinval(tup, desc, 2, &isnull));
		char	   *op = SPI_getvalue(tup, desc, 3);
		char	   *row_key = SPI_getvalue(tup, desc, 4);
		Datum		image = SPI_getbinval(tup, desc, 5, &isnull);
		bool		image_null = isnull;
		int			attempts = DatumGetInt32(SPI_getbinval(tup, desc, 6, &isnull));
		bool		maybe_sent = DatumGetBool(SPI_getbinval(tup, desc, 7, &isnull));
		MemoryContext old;

		if (c == NULL || c->binding_id != binding_id || strcmp(c->row_key, row_key) != 0)
		{
			/* (SPI calls leave us in SPI's memory context: switch after) */
			Binding    *b = load_binding(bindings, binding_id, cxt);

			old = MemoryContextSwitchTo(cxt);
			c = palloc0(sizeof(Change));
			c->binding_id = binding_id;
			c->binding = b;
			c->row_key = pstrdup(row_key);
			result = lappend(result, c);
		}
		else
		{
			old = MemoryContextSwitchTo(cxt);
			c->older_ids = lappend(c->older_ids, box_id(c->newest_id));
		}
		c->newest_id = id;
		c->maybe_sent |= maybe_sent;
		c->is_delete = strcmp(op, "delete") == 0;
		c->image = image_null ? NULL : DatumGetJsonbPCopy(image);
		c->attempts = attempts;
		MemoryContextSwitchTo(old);
	}
	return result;
}

/* payload_hash returns a short hash of a payload, to skip unchanged rows. */
static char *
payload_hash(Jsonb *payload)
{
	char	   *text = JsonbToCString(NULL, &payload->root, VARSIZE(payload));

	return psprintf("%016" INT64_MODIFIER "x",
					(uint64) hash_bytes_extended((const unsigned char *) text,
												 strlen(text), 0));
}

/*
 * backoff_seconds is the wait before the next attempt: exponential in the
 * attempts made, capped at five minutes, with jitter.
 */
static double
backoff_seconds(int attempts)
{
	double		base = Min(300.0, pow(2.0, Max(attempts - 1, 0)));

	return base * (0.5 + 0.5 * ((double) random() / (double) PG_INT32_MAX));
}

/*
 * build_payload builds a change's item in a subtransaction, so that a row
 * that cannot be turned into an item fails alone.
 */
static void
build_payload(Change *c, MemoryContext cxt)
{
	Binding    *b = c->binding;
	MemoryContext old = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		if (b->payload == NULL)
			b->payload = webflow_payload_prepare(b->payload_options, cxt);
		c->payload = webflow_payload_build(b->payload, c->image);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(old);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(old);
		CurrentResourceOwner = owner;

		c->payload = NULL;
		c->error = edata->detail ?
			psprintf("%s (%s)", edata->message, edata->detail) :
			pstrdup(edata->message);
		/* a referenced row not published yet: wait for it */
		c->outcome = edata->sqlerrcode == ERRCODE_FOREIGN_KEY_VIOLATION ?
			OUTCOME_RETRY : OUTCOME_FAILED;
		FreeErrorData(edata);
	}
	PG_END_TRY();
}

/*
 * plan_change decides what a change needs sent, from the item map and its
 * payload.
 */
static void
plan_change(Change *c, SPIPlanPtr map_plan, MemoryContext cxt)
{
	Binding    *b = c->binding;
	Datum		args[2];
	MemoryContext old;

	c->outcome = OUTCOME_PENDING;
	if (b == NULL)
	{
		/* the table was unbound: its rows are dropped */
		c->action = ACTION_NONE;
		c->outcome = OUTCOME_DONE;
		return;
	}

	args[0] = CStringGetTextDatum(b->collection_id);
	args[1] = CStringGetTextDatum(c->row_key);
	if (SPI_execute_plan(map_plan, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read webflow.items");
	old = MemoryContextSwitchTo(cxt);
	if (SPI_processed == 1)
	{
		c->item_id = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		c->mapped_slug = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		c->mapped_hash = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
	}
	MemoryContextSwitchTo(old);

	if (c->is_delete)
	{
		if (c->item_id == NULL || strcmp(b->on_delete, "ignore") == 0)
			c->action = ACTION_NONE;
		else if (strcmp(b->on_delete, "archive") == 0)
			c->action = ACTION_ARCHIVE;
		else if (!b->live)
			c->action = ACTION_DELETE;
		else if (strcmp(b->on_delete, "unpublish_only") == 0)
			c->action = ACTION_UNPUBLISH;
		else
			c->action = ACTION_UNPUBLISH_DELETE;
	}
	else
	{
		build_payload(c, cxt);
		if (c->payload == NULL)
			return;				/* failed or waiting, with the reason */
		old = MemoryContextSwitchTo(cxt);
		c->slug = webflow_payload_slug(c->payload);
		c->hash = payload_hash(c->payload);
		MemoryContextSwitchTo(old);
		if (c->item_id != NULL)
			c->action = (c->mapped_hash != NULL && strcmp(c->mapped_hash, c->hash) == 0) ?
				ACTION_NONE : ACTION_UPDATE;
		else
			c->action = c->maybe_sent ? ACTION_RESOLVE : ACTION_CREATE;
	}
	if (c->action == ACTION_NONE)
		c->outcome = OUTCOME_DONE;
}

/* exec_arrays runs one statement of the record step. */
static void
exec_arrays(const char *sql, int nargs, Oid *types, Datum *args)
{
	int			ret = SPI_execute_with_args(sql, nargs, types, args, NULL, false, 0);

	if (ret < 0)
		elog(ERROR, "webflow: recording the pass failed: %s", SPI_result_code_string(ret));
}

/* make_array builds a one-dimensional array of n datums of a type. */
static Datum
make_array(Datum *elems, bool *nulls, int n, Oid type)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;
	int			dims[1] = {n};
	int			lbs[1] = {1};

	get_typlenbyvalalign(type, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_md_array(elems, nulls, 1, dims, lbs, type,
											  typlen, typbyval, typalign));
}

/*
 * record writes the outcome of every change of a pass and returns how
 * many outbox rows were completed.
 */
static int64
record(List *changes)
{
	int			n = list_length(changes);
	int			cap = n;
	ListCell   *lc;
	int64		completed = 0;

	/* rows to delete: superseded ones and the newest of done changes */
	Datum	   *del_ids;
	int			ndel = 0;

	/* failed rows of done keys */
	Datum	   *dk_binding = palloc(sizeof(Datum) * Max(cap, 1));
	Datum	   *dk_key = palloc(sizeof(Datum) * Max(cap, 1));
	Datum	   *dk_max = palloc(sizeof(Datum) * Max(cap, 1));
	int			ndk = 0;

	/* item map upserts */
	Datum	   *m_coll = palloc(sizeof(Datum) * Max(cap, 1));
	Datum	   *m_key = palloc(sizeof(Datum) * Max(cap, 1));
	Datum	   *m_item = palloc(sizeof(Datum) * Max(cap, 1));
	Datum	   *m_slug = palloc(sizeof(Datum) * Max(cap, 1));
	bool	   *m_slug_null = palloc(sizeof(bool) * Max(cap, 1));
	Datum	   *m_hash = palloc(sizeof(Datum) * Max(cap, 1));
	bool	   *m_hash_null = palloc(sizeof(bool) * Max(cap, 1));
	Datum	   *m_live = palloc(sizeof(Datum) * Max(cap, 1));
	int			nm = 0;

	/* item map deletes */
	Datum	   *u_coll = palloc(sizeof(Datum) * Max(cap, 1));
	Datum	   *u_key = palloc(sizeof(Datum) * Max(cap, 1));
	int			nu = 0;

	/* rows that stay: retried, failed or deferred */
	Datum	   *r_id = palloc(sizeof(Datum) * Max(cap, 1));
	Datum	   *r_inc = palloc(sizeof(Datum) * Max(cap, 1));
	Datum	   *r_delay = palloc(sizeof(Datum) * Max(cap, 1));
	Datum	   *r_err = palloc(sizeof(Datum) * Max(cap, 1));
	bool	   *r_err_null = palloc(sizeof(bool) * Max(cap, 1));
	Datum	   *r_status = palloc(sizeof(Datum) * Max(cap, 1));
	bool	   *r_status_null = palloc(sizeof(bool) * Max(cap, 1));
	Datum	   *r_unknown = palloc(sizeof(Datum) * Max(cap, 1));
	Datum	   *r_fail = palloc(sizeof(Datum) * Max(cap, 1));
	int			nr = 0;

	/* bindings that succeeded or failed */
	Datum	   *ok_bindings = palloc(sizeof(Datum) * Max(cap, 1));
	int			nok = 0;
	Datum	   *bad_bindings = palloc(sizeof(Datum) * Max(cap, 1));
	Datum	   *bad_errors = palloc(sizeof(Datum) * Max(cap, 1));
	int			nbad = 0;
	int64		failed = 0;

	int			total = 0;

	foreach(lc, changes)
		total += 1 + list_length(((Change *) lfirst(lc))->older_ids);
	del_ids = palloc(sizeof(Datum) * Max(total, 1));

	foreach(lc, changes)
	{
		Change	   *c = lfirst(lc);
		ListCell   *lc2;

		foreach(lc2, c->older_ids)
		{
			del_ids[ndel++] = Int64GetDatum(*(int64 *) lfirst(lc2));
			completed++;
		}

		if (c->binding != NULL && (c->new_item_id != NULL || c->unmap))
		{
			if (c->new_item_id != NULL)
			{
				bool		keep_hash = c->action == ACTION_CREATE ||
					c->action == ACTION_UPDATE || c->action == ACTION_RESOLVE;

				m_coll[nm] = CStringGetTextDatum(c->binding->collection_id);
				m_key[nm] = CStringGetTextDatum(c->row_key);
				m_item[nm] = CStringGetTextDatum(c->new_item_id);
				m_slug_null[nm] = c->slug == NULL && c->mapped_slug == NULL;
				m_slug[nm] = m_slug_null[nm] ? (Datum) 0 :
					CStringGetTextDatum(c->slug ? c->slug : c->mapped_slug);
				m_hash_null[nm] = !keep_hash || c->hash == NULL;
				m_hash[nm] = m_hash_null[nm] ? (Datum) 0 : CStringGetTextDatum(c->hash);
				m_live[nm] = BoolGetDatum(c->binding->live && keep_hash);
				nm++;
			}
			else
			{
				u_coll[nu] = CStringGetTextDatum(c->binding->collection_id);
				u_key[nu] = CStringGetTextDatum(c->row_key);
				nu++;
			}
		}

		switch (c->outcome)
		{
			case OUTCOME_DONE:
				del_ids[ndel++] = Int64GetDatum(c->newest_id);
				completed++;
				dk_binding[ndk] = Int32GetDatum(c->binding_id);
				dk_key[ndk] = CStringGetTextDatum(c->row_key);
				dk_max[ndk] = Int64GetDatum(c->newest_id);
				ndk++;
				if (c->binding != NULL && c->action != ACTION_NONE)
					ok_bindings[nok++] = Int32GetDatum(c->binding_id);
				break;
			case OUTCOME_RETRY:
			case OUTCOME_FAILED:
			case OUTCOME_DEFER:
			case OUTCOME_PENDING:
				r_id[nr] = Int64GetDatum(c->newest_id);
				r_inc[nr] = Int32GetDatum(c->outcome == OUTCOME_DEFER ||
										  c->outcome == OUTCOME_PENDING ? 0 : 1);
				r_delay[nr] = Float8GetDatum(c->outcome == OUTCOME_RETRY ?
											 backoff_seconds(c->attempts + 1) : 0.0);
				r_err_null[nr] = c->error == NULL;
				r_err[nr] = c->error ? CStringGetTextDatum(c->error) : (Datum) 0;
				r_status_null[nr] = c->status == 0;
				r_status[nr] = Int32GetDatum(c->status);
				r_unknown[nr] = BoolGetDatum(c->unknown_outcome);
				r_fail[nr] = BoolGetDatum(c->outcome == OUTCOME_FAILED);
				nr++;
				if (c->outcome == OUTCOME_FAILED ||
					(c->outcome == OUTCOME_RETRY && c->attempts + 1 >= webflow_max_attempts))
				{
					failed++;
					if (c->binding != NULL && c->error != NULL)
					{
						bad_bindings[nbad] = Int32GetDatum(c->binding_id);
						bad_errors[nbad] = CStringGetTextDatum(c->error);
						nbad++;
					}
				}
				break;
		}
	}

	if (ndel > 0)
	{
		Oid			types[1] = {INT8ARRAYOID};
		Datum		args[1];

		args[0] = make_array(del_ids, NULL, ndel, INT8OID);
		exec_arrays("DELETE FROM webflow.outbox WHERE id = ANY($1)", 1, types, args);
	}
	if (ndk > 0)
	{
		Oid			types[3] = {INT4ARRAYOID, TEXTARRAYOID, INT8ARRAYOID};
		Datum		args[3];

		args[0] = make_array(dk_binding, NULL, ndk, INT4OID);
		args[1] = make_array(dk_key, NULL, ndk, TEXTOID);
		args[2] = make_array(dk_max, NULL, ndk, INT8OID);
		exec_arrays("DELETE FROM webflow.outbox o"
					" USING unnest($1, $2, $3) AS d(b, k, m)"
					" WHERE o.binding_id = d.b AND o.row_key = d.k AND o.id < d.m"
					"   AND o.state = 'failed'", 3, types, args);
	}
	if (nu > 0)
	{
		Oid			types[2] = {TEXTARRAYOID, TEXTARRAYOID};
		Datum		args[2];

		args[0] = make_array(u_coll, NULL, nu, TEXTOID);
		args[1] = make_array(u_key, NULL, nu, TEXTOID);
		exec_arrays("DELETE FROM webflow.items i USING unnest($1, $2) AS d(c, k)"
					" WHERE i.collection_id = d.c AND i.source_key = d.k",
					2, types, args);
	}
	if (nm > 0)
	{
		Oid			types[6] = {TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
		TEXTARRAYOID, TEXTARRAYOID, BOOLARRAYOID};
		Datum		args[6];

		args[0] = make_array(m_coll, NULL, nm, TEXTOID);
		args[1] = make_array(m_key, NULL, nm, TEXTOID);
		args[2] = make_array(m_item, NULL, nm, TEXTOID);
		args[3] = make_array(m_slug, m_slug_null, nm, TEXTOID);
		args[4] = make_array(m_hash, m_hash_null, nm, TEXTOID);
		args[5] = make_array(m_live, NULL, nm, BOOLOID);
		exec_arrays("INSERT INTO webflow.items AS i"
					" (collection_id, source_key, item_id, slug, payload_hash, last_published)"
					" SELECT c, k, it, s, h, CASE WHEN p THEN now() END"
					" FROM unnest($1, $2, $3, $4, $5, $6) AS d(c, k, it, s, h, p)"
					" ON CONFLICT (collection_id, source_key) DO UPDATE"
					" SET item_id = EXCLUDED.item_id, slug = EXCLUDED.slug,"
					"     payload_hash = EXCLUDED.payload_hash,"
					"     last_published = coalesce(EXCLUDED.last_published, i.last_published)",
					6, types, args);
	}
	if (nr > 0)
	{
		Oid			types[8] = {INT8ARRAYOID, INT4ARRAYOID, FLOAT8ARRAYOID,
			TEXTARRAYOID, INT4ARRAYOID, BOOLARRAYOID, BOOLARRAYOID, INT4OID};
		Datum		args[8];

		args[0] = make_array(r_id, NULL, nr, INT8OID);
		args[1] = make_array(r_inc, NULL, nr, INT4OID);
		args[2] = make_array(r_delay, NULL, nr, FLOAT8OID);
		args[3] = make_array(r_err, r_err_null, nr, TEXTOID);
		args[4] = make_array(r_status, r_status_null, nr, INT4OID);
		args[5] = make_array(r_unknown, NULL, nr, BOOLOID);
		args[6] = make_array(r_fail, NULL, nr, BOOLOID);
		args[7] = Int32GetDatum(webflow_max_attempts);
		exec_arrays("UPDATE webflow.outbox o SET"
					" state = CASE WHEN d.fail OR (d.inc > 0 AND o.attempts + d.inc >= $8)"
					"         THEN 'failed' ELSE 'pending' END,"
					" attempts = o.attempts + d.inc,"
					" next_attempt_at = now() + make_interval(secs => d.delay),"
					" last_error = coalesce(d.err, o.last_error),"
					" last_status = coalesce(d.status, o.last_status),"
					" maybe_sent = o.maybe_sent OR d.unknown,"
					" claimed_at = NULL"
					" FROM unnest($1, $2, $3, $4, $5, $6, $7)"
					"   AS d(id, inc, delay, err, status, unknown, fail)"
					" WHERE o.id = d.id", 8, types, args);
	}
	if (nok > 0)
	{
		Oid			types[1] = {INT4ARRAYOID};
		Datum		args[1];

		args[0] = make_array(ok_bindings, NULL, nok, INT4OID);
		exec_arrays("UPDATE webflow.bindings SET last_success = now()"
					" WHERE id = ANY($1)", 1, types, args);
	}
	if (nbad > 0)
	{
		Oid			types[2] = {INT4ARRAYOID, TEXTARRAYOID};
		Datum		args[2];

		args[0] = make_array(bad_bindings, NULL, nbad, INT4OID);
		args[1] = make_array(bad_errors, NULL, nbad, TEXTOID);
		exec_arrays("UPDATE webflow.bindings b SET last_error = d.e, last_error_at = now()"
					" FROM (SELECT DISTINCT ON (b) b, e FROM unnest($1, $2) AS u(b, e)) d"
					" WHERE b.id = d.b", 2, types, args);
	}

	{
		WebflowShared *s = webflow_shared();

		SpinLockAcquire(&s->mutex);
		s->rows_done += completed;
		s->rows_failed += failed;
		if (nok > 0)
			s->last_success = GetCurrentTimestamp();
		SpinLockRelease(&s->mutex);
	}
	return completed;
}

/*
 * webflow_drain_pass runs one pass and returns the number of outbox rows
 * completed, or -1 when another process is draining.  *claimed tells how
 * many rows were claimed.
 */
int64
webflow_drain_pass(int max_rows, PassOptions *opts, MemoryContext cxt,
				   int *claimed)
{
	List	   *changes;
	ListCell   *lc;
	SPIPlanPtr	map_plan;
	Oid			types[2] = {TEXTOID, TEXTOID};
	bool		any_to_send = false;
	int64		completed;
	MemoryContext old;

	*claimed = 0;
	step_begin(opts);
	if (!take_lock(opts))
	{
		step_end(opts);
		return -1;
	}
	/* rows a dead process left "sending" may have reached Webflow */
	if (SPI_execute("UPDATE webflow.outbox SET state = 'pending', maybe_sent = true,"
					" claimed_at = NULL WHERE state = 'sending'", false, 0) < 0)
		elog(ERROR, "could not recover outbox rows");

	changes = claim(max_rows, cxt, claimed);
	if (changes == NIL)
	{
		if (opts->in_worker)
			webflow_drain_unlock();
		step_end(opts);
		return 0;
	}

	map_plan = SPI_prepare("SELECT item_id, slug, payload_hash FROM webflow.items"
						   " WHERE collection_id = $1 AND source_key = $2", 2, types);
	if (map_plan == NULL)
		elog(ERROR, "could not prepare the item map lookup");
	foreach(lc, changes)
	{
		Change	   *c = lfirst(lc);

		plan_change(c, map_plan, cxt);
		any_to_send |= c->outcome == OUTCOME_PENDING;
	}
	step_end(opts);

	old = MemoryContextSwitchTo(cxt);
	if (any_to_send)
		webflow_send_changes(changes, opts);
	MemoryContextSwitchTo(old);

	step_begin(opts);
	completed = record(changes);
	if (opts->in_worker)
		webflow_drain_unlock();
	step_end(opts);
	MemoryContextSwitchTo(old);
	return completed;
}

/*
 * webflow.drain(max_rows) publishes due outbox rows from this session and
 * returns how many rows it completed.
 */
Datum
webflow_drain(PG_FUNCTION_ARGS)
{
	int			max_rows = PG_ARGISNULL(0) ? PG_INT32_MAX : PG_GETARG_INT32(0);
	PassOptions opts = {false, SESSION_MAX_WAIT_MS};
	int64		total = 0;
	MemoryContext cxt;

	if (max_rows < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_rows must be positive or NULL"),
				 errhint("NULL drains every row that is due.")));

	cxt = AllocSetContextCreate(CurrentMemoryContext, "webflow drain pass",
								ALLOCSET_DEFAULT_SIZES);
	while (total < max_rows)
	{
		int			limit = (int) Min((int64) webflow_batch_size * 10, max_rows - total);
		int			claimed;
		int64		done;

		CHECK_FOR_INTERRUPTS();
		done = webflow_drain_pass(limit, &opts, cxt, &claimed);
		MemoryContextReset(cxt);
		if (done < 0 || claimed == 0)
			break;
		total += done;
		if (done == 0)
			break;				/* nothing moved: paused, or all retrying */
	}
	MemoryContextDelete(cxt);
	PG_RETURN_INT32((int32) Min(total, PG_INT32_MAX));
}

/*
 * webflow._payload_hash(binding_id, row) hashes the item a row would
 * become, as the worker does, so that sync() skips unchanged rows.
 */
Datum
webflow_payload_hash(PG_FUNCTION_ARGS)
{
	int32		binding_id = PG_GETARG_INT32(0);
	Jsonb	   *row = PG_GETARG_JSONB_P(1);
	HTAB	   *bindings;
	HASHCTL		ctl;
	Binding    *b;
	Jsonb	   *volatile payload = NULL;

	/* the binding and its prepared payload state stay for the statement */
	b = (Binding *) fcinfo->flinfo->fn_extra;
	if (b == NULL || b->id != binding_id)
	{
		MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(int32);
		ctl.entrysize = sizeof(int32) + sizeof(Binding *) + 8;
		ctl.hcxt = fcinfo->flinfo->fn_mcxt;
		bindings = hash_create("webflow bindings", 4, &ctl,
							   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		b = load_binding(bindings, binding_id, fcinfo->flinfo->fn_mcxt);
		SPI_finish();
		if (b == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("binding %d does not exist", binding_id)));
		b->payload = webflow_payload_prepare(b->payload_options,
											 fcinfo->flinfo->fn_mcxt);
		fcinfo->flinfo->fn_extra = b;
		MemoryContextSwitchTo(old);
	}
	if (PG_NARGS() > 2 && !PG_ARGISNULL(2) && PG_GETARG_BOOL(2))
		payload = webflow_payload_build(b->payload, row);
	else
	{
		/* a row that cannot become an item is queued, to fail alone */
		MemoryContext old = CurrentMemoryContext;
		ResourceOwner owner = CurrentResourceOwner;

		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(old);
		PG_TRY();
		{
			payload = webflow_payload_build(b->payload, row);
			ReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(old);
			CurrentResourceOwner = owner;
		}
		PG_CATCH();
		{
			MemoryContextSwitchTo(old);
			FlushErrorState();
			RollbackAndReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(old);
			CurrentResourceOwner = owner;
			payload = NULL;
		}
		PG_END_TRY();
		if (payload == NULL)
			PG_RETURN_NULL();
	}
	PG_RETURN_TEXT_P(cstring_to_text(payload_hash(payload)));
}
