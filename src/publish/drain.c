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
 *	   maybe sent; claims due rows with FOR UPDATE SKIP LOCKED (the oldest
 *	   fresh rows by id, the others by due time), together with every
 *	   other pending row of the same row keys that was put back before
 *	   (newer fresh rows of those keys wait for a later pass), and marks
 *	   them "sending"; keeps only the newest state per (binding, row key); reads
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
#include "storage/lock.h"
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
#include "binding.h"
#include "drain.h"
#include "jsonb_util.h"
#include "payload.h"
#include "payload_plan.h"
#include "publish.h"
#include "ratelimit.h"
#include "record.h"
#include "reference.h"
#include "row_key.h"
#include "schema_cache.h"
#include "send.h"
#include "shmem.h"
#include "sql_version.h"
#include "step.h"
#include "webflow.h"


/*
 * The rows a dead process left "sending", put back due now; the newest of
 * each key (what that pass sent) marked maybe sent.  (The subquery sees
 * the rows as they were before the update, through the outbox_row index.)
 */
#define RECOVER_SENDING_SQL \
	"UPDATE webflow.outbox o SET state = 'pending', claimed_at = NULL," \
	"  next_attempt_at = pg_catalog.now()," \
	"  maybe_sent = o.maybe_sent OR NOT EXISTS (SELECT 1 FROM webflow.outbox n" \
	"    WHERE n.binding_id = o.binding_id AND n.row_key = o.row_key" \
	"      AND n.id > o.id AND n.state = 'sending' AND " OUTBOX_ROW_PREDICATE("n") ")" \
	" WHERE o.ctid = ANY (ARRAY(SELECT ctid FROM webflow.outbox" \
	"   WHERE state = 'sending' FOR UPDATE SKIP LOCKED))"

/*
 * The drain lock: a session-level lock in the advisory lock space, with a
 * tag that SQL's pg_advisory_lock() cannot name (it sets field4 to 1 or 2),
 * so no role can take it to stall publishing.
 */
#define DRAIN_LOCK_KEY 7769
#define DRAIN_LOCK_FIELD4 0x5746	/* "WF" */

static void drain_lock_tag(LOCKTAG *tag);
static bool take_lock(void);
static void refresh_snapshot(void);
static void make_resumed_due(void);
static void unpack(const char *connection);
static List *claim(int max_rows, MemoryContext cxt, int *nrows, bool *several);
static List *claim_rows(int max_rows, const char *connection, HTAB *bindings,
						MemoryContext cxt, int *nrows);
static void check_schema(Binding *b, PassOptions *opts, MemoryContext cxt);
static void plan_change(Change *c, SPIPlanPtr map_plan, MemoryContext cxt);
static ErrorData *from_image(Change *c, Jsonb *image, bool slug_only,
							 MemoryContext cxt, char **slug, char **name);
static void build_payload(Change *c, MemoryContext cxt);
static void mark_references_on_its_way(List *changes);
static bool image_slug(Change *c, Jsonb *image, MemoryContext cxt,
					   char **slug, char **name);
static void add_candidate(List **list, char *value, MemoryContext cxt);
static bool candidate_slugs(Change *c, MemoryContext cxt);
static int64 *box_id(int64 id);

/*
 * refresh_snapshot replaces the step's snapshot with one taken now: one
 * taken before the drain lock was granted may miss the results the pass
 * that held it committed meanwhile (its item ids, its deletes).
 */
static void
refresh_snapshot(void)
{
	PopActiveSnapshot();
	PushActiveSnapshot(GetTransactionSnapshot());
}

/* drain_lock_tag sets the tag of the drain lock of this database. */
static void
drain_lock_tag(LOCKTAG *tag)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, DRAIN_LOCK_KEY, 0, DRAIN_LOCK_FIELD4);
}

/*
 * take_lock takes the drain lock so that passes never overlap, for the
 * process's session until it lets go (or exits).
 */
static bool
take_lock(void)
{
	LOCKTAG		tag;

	drain_lock_tag(&tag);
	return LockAcquire(&tag, ExclusiveLock, true, true) != LOCKACQUIRE_NOT_AVAIL;
}

/* webflow_drain_unlock lets go of the worker's drain lock. */
void
webflow_drain_unlock(void)
{
	LOCKTAG		tag;

	drain_lock_tag(&tag);
	(void) LockRelease(&tag, ExclusiveLock, true);
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
 * Whether an open transaction holds a row of the key of outbox row a that
 * may have been sent (its xmax among the transactions in progress: an open
 * retry() that puts it back, say): such a key is not claimed (blocked, in
 * CLAIM_SQL), so its rows are not even read into fresh or retried, where
 * they would take the places of free rows in every pass for as long as
 * that transaction stays open.  (An xmax that is a MultiXact is compared
 * as a transaction id: blocked still sees the lock.)
 */
#define CLAIM_HELD_KEY(a) \
	"EXISTS (SELECT FROM webflow.outbox h" \
	"    WHERE h.binding_id OPERATOR(pg_catalog.=) " a ".binding_id" \
	"      AND h.row_key OPERATOR(pg_catalog.=) " a ".row_key" \
	"      AND " OUTBOX_ROW_PREDICATE("h") " AND h.maybe_sent" \
	"      AND h.xmax::text OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT xid FROM open_xids)))"

/* The other rows of the due keys that come with them (CLAIM_SQL). */
#define CLAIM_KEY_ROWS \
	" FROM webflow.outbox o" \
	"  JOIN (SELECT DISTINCT binding_id, row_key FROM due) k" \
	"    ON o.binding_id OPERATOR(pg_catalog.=) k.binding_id" \
	"   AND o.row_key OPERATOR(pg_catalog.=) k.row_key" \
	"  WHERE " OUTBOX_ROW_PREDICATE("o") \
	"    AND (o.state OPERATOR(pg_catalog.=) 'pending'" \
	"         OR (o.state OPERATOR(pg_catalog.=) 'failed' AND o.maybe_sent))"

/*
 * The claim of due rows: the oldest fresh rows (pending, never put back:
 * next_attempt_at = enqueued_at) by id through outbox_fresh, locked as
 * they are read: a row another transaction holds (an open unbind() or
 * DROP TABLE of a bound table deletes its rows, a superuser's own
 * statement) is passed over and the read goes on, so that however many
 * rows others hold, the pass takes $1 of the free ones (and locks nothing
 * but outbox rows); and the earliest due of the others
 * through outbox_due, $1 of them in turns (one of each, so that rows put
 * back again and again, waiting for rows queued after them, never keep
 * those out of every pass); then every other pending row of their row
 * keys that is not fresh (through outbox_row), all marked "sending"
 * (found again by ctid: the outbox has no index on id alone).  Fresh rows
 * of those keys left out are newer than every fresh row taken (the fresh
 * rows are taken oldest first); they wait for a later pass.  The fresh
 * rows passed over (those older than the newest taken that were not
 * taken) are read again, without locks, and the newer rows of their keys
 * are left out too (a key's older state must not follow its newer one):
 * they wait until it is free.  (Only the keys of rows taken are grouped,
 * through a hashed subplan, which the planner's estimates of the CTEs,
 * often one row, cannot turn into a nested loop over every held key.)
 * Failed rows of those keys that may have reached Webflow come too: an
 * earlier create of theirs may have made the item the newer rows need (it
 * is looked up by their slugs and names), and they follow the newest.  A
 * key one of whose older rows that may have been sent another transaction
 * holds (an open retry() that puts it back) is not claimed at all
 * (blocked): without that row its newer ones would not know that an item
 * may exist already.  (A held row that was surely not sent holds nothing
 * back: the newer state goes, and the older one is superseded.)
 * open_xids (the transactions in progress) serves CLAIM_HELD_KEY and
 * CLAIM_HELD_SQL.  The first %s is CLAIM_HELD_SQL from 1.1 on (else
 * empty), the third CLAIM_PACKED_SQL (the packed changes that hold fresh
 * rows back); the others are empty, or a condition that keeps only the
 * rows of one connection's bindings ($2).  The conditions repeat the
 * predicates of the partial indexes word for word, so that the planner
 * sees that they apply.
 */
#define CLAIM_SQL \
	"WITH open_xids AS MATERIALIZED (" \
	"  SELECT (x::text::bigint OPERATOR(pg_catalog.%%) 4294967296)::text AS xid" \
	"  FROM pg_catalog.pg_snapshot_xip(pg_catalog.pg_current_snapshot()) x)," \
	" %sfresh AS (" \
	"  SELECT id, binding_id, row_key, ctid FROM webflow.outbox o" \
	"  WHERE " OUTBOX_FRESH_PREDICATE("o") "%s%s" \
	"    AND NOT " CLAIM_HELD_KEY("o") \
	"  ORDER BY id LIMIT $1 FOR UPDATE OF o SKIP LOCKED)," \
	" retried AS (" \
	"  SELECT id, binding_id, row_key, ctid, next_attempt_at AS ord FROM webflow.outbox o" \
	"  WHERE o.state OPERATOR(pg_catalog.=) 'pending'" \
	"    AND o.next_attempt_at OPERATOR(pg_catalog.<>) o.enqueued_at" \
	"    AND o.next_attempt_at OPERATOR(pg_catalog.<=) pg_catalog.now()%s" \
	"    AND NOT " CLAIM_HELD_KEY("o") \
	"  ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)," \
	" skipped AS (" \
	"  SELECT o.binding_id, o.row_key, pg_catalog.min(o.id) AS id FROM webflow.outbox o" \
	"  WHERE " OUTBOX_FRESH_PREDICATE("o") "%s" \
	"    AND o.id OPERATOR(pg_catalog.<) (SELECT pg_catalog.max(f.id) FROM fresh f)" \
	"    AND o.id NOT IN (SELECT f.id FROM fresh f)" \
	"    AND ((o.binding_id, o.row_key) IN (SELECT f.binding_id, f.row_key FROM fresh f" \
	"          UNION ALL SELECT t.binding_id, t.row_key FROM retried t)) IS TRUE" \
	"  GROUP BY o.binding_id, o.row_key)," \
	" due AS (" \
	"  SELECT id, binding_id, row_key, ctid FROM (" \
	"    SELECT f.id, f.binding_id, f.row_key, f.ctid," \
	"      pg_catalog.row_number() OVER (ORDER BY f.id) AS turn FROM fresh f" \
	"    UNION ALL" \
	"    SELECT t.id, t.binding_id, t.row_key, t.ctid," \
	"      pg_catalog.row_number() OVER (ORDER BY t.ord) AS turn FROM retried t) r" \
	"  WHERE NOT EXISTS (SELECT FROM skipped k" \
	"    WHERE k.binding_id OPERATOR(pg_catalog.=) r.binding_id" \
	"      AND k.row_key OPERATOR(pg_catalog.=) r.row_key" \
	"      AND k.id OPERATOR(pg_catalog.<) r.id)" \
	"  ORDER BY turn, id LIMIT $1)," \
	" same_key AS (" \
	"  SELECT o.ctid" CLAIM_KEY_ROWS \
	"  FOR UPDATE OF o SKIP LOCKED)," \
	" blocked AS (" \
	"  SELECT DISTINCT o.binding_id, o.row_key" CLAIM_KEY_ROWS " AND o.maybe_sent" \
	"    AND o.ctid OPERATOR(pg_catalog.<>) ALL (ARRAY(" \
	"      SELECT ctid FROM same_key UNION ALL SELECT ctid FROM due)))," \
	" claimed AS (" \
	"  UPDATE webflow.outbox o SET state = 'sending', claimed_at = pg_catalog.now()" \
	"  WHERE o.ctid OPERATOR(pg_catalog.=) ANY (ARRAY(" \
	"    SELECT ctid FROM due UNION SELECT ctid FROM same_key))" \
	"    AND NOT EXISTS (SELECT FROM blocked x" \
	"      WHERE x.binding_id OPERATOR(pg_catalog.=) o.binding_id" \
	"        AND x.row_key OPERATOR(pg_catalog.=) o.row_key)" \
	"  RETURNING o.id, o.binding_id, o.op, o.row_key, o.row_image," \
	"    o.attempts, o.maybe_sent)" \
	" SELECT * FROM claimed ORDER BY binding_id, row_key, id"

/*
 * No fresh row newer than the oldest packed change of its collection (1.1
 * on): those are unpacked first (unpack), and one of them may be an older
 * change of the row's item (the item map knows rows by collection and key,
 * which the tables bound to one collection share).  A packed row that an
 * open transaction is deleting or holds (an unbind(), a DROP TABLE, also
 * prepared; its xmax is among the transactions in progress of the claim's
 * snapshot) holds back its own binding's rows only: the unpack passes it
 * over, and the rows of the other tables of its collection must not wait
 * for that transaction.  held (a CTE, before fresh) has, per binding, the
 * oldest packed id that holds it back; the claim reads it in its own
 * snapshot: a packed row committed after the unpack, before the claim,
 * holds the newer rows back until a later pass.  (An xmax that is a
 * MultiXact, which only a superuser's own row locks on outbox_packed
 * would make, is compared as if it were a transaction id.)
 */
#define CLAIM_HELD_SQL \
	" held AS MATERIALIZED (SELECT ob.id AS binding_id, pg_catalog.min(p.first_id) AS first_id" \
	"  FROM webflow.outbox_packed p" \
	"  JOIN webflow.bindings pb ON pb.id OPERATOR(pg_catalog.=) p.binding_id" \
	"  JOIN webflow.bindings ob ON ob.collection_id OPERATOR(pg_catalog.=) pb.collection_id" \
	"  WHERE ob.id OPERATOR(pg_catalog.=) pb.id" \
	"     OR p.xmax::text NOT IN (SELECT xid FROM open_xids)" \
	"  GROUP BY ob.id),"
#define CLAIM_PACKED_SQL \
	" AND NOT EXISTS (SELECT FROM held h" \
	"   WHERE h.binding_id OPERATOR(pg_catalog.=) o.binding_id" \
	"     AND h.first_id OPERATOR(pg_catalog.<) o.id)"

/*
 * The changes of the oldest $1 packed rows (outbox_pack.c) moved into the
 * outbox with the ids and enqueue time they were written with, fresh
 * rows like those the trigger writes one by one; those of a binding that
 * is gone (unbind() deletes its queued rows) are dropped.  A packed row a
 * transaction holds is left for a later pass.  %s is empty, or keeps only
 * the packed rows of one connection's bindings ($2), which its claim
 * follows.
 */
#define UNPACK_SQL \
	"WITH p AS (" \
	"  DELETE FROM webflow.outbox_packed p WHERE p.ctid OPERATOR(pg_catalog.=) ANY (ARRAY(" \
	"    SELECT ctid FROM webflow.outbox_packed WHERE true%s" \
	"    ORDER BY first_id LIMIT $1 FOR UPDATE SKIP LOCKED))" \
	"  RETURNING p.binding_id, p.ids, p.upserts, p.row_keys, p.row_images, p.enqueued_at)" \
	" INSERT INTO webflow.outbox (id, binding_id, op, row_key, row_image, enqueued_at, next_attempt_at)" \
	" SELECT u.id, p.binding_id, CASE WHEN u.up THEN 'upsert' ELSE 'delete' END, u.k, u.img," \
	"   p.enqueued_at, p.enqueued_at" \
	" FROM p CROSS JOIN LATERAL ROWS FROM (pg_catalog.unnest(p.ids), pg_catalog.unnest(p.upserts)," \
	"   pg_catalog.unnest(p.row_keys), pg_catalog.unnest(p.row_images)) AS u(id, up, k, img)" \
	" WHERE EXISTS (SELECT FROM webflow.bindings b WHERE b.id OPERATOR(pg_catalog.=) p.binding_id)" \
	" ORDER BY u.id"

/* The packed rows a pass unpacks (of at most WEBFLOW_OUTBOX_MAX_ROWS changes each). */
#define UNPACK_ROWS 4

/* The rows of one connection's bindings (and, for the default one, orphans). */
#define CLAIM_CONNECTION_SQL \
	" AND COALESCE((SELECT b.connection FROM webflow.bindings b" \
	"   WHERE b.id OPERATOR(pg_catalog.=) binding_id), '') OPERATOR(pg_catalog.=) $2"

/*
 * make_resumed_due makes the changes that wait for a pause lifted since
 * (a reload, a superuser's retry()) due now.
 */
static void
make_resumed_due(void)
{
	TimestampTz horizon = webflow_take_resume_horizon();
	Oid			argtypes[1] = {TIMESTAMPTZOID};
	Datum		args[1];

	if (horizon == 0)
		return;
	args[0] = TimestampTzGetDatum(horizon + USECS_PER_SEC);
	/*
	 * (rows a user's open retry() holds are left to it: never wait for one;
	 * rows not yet due were put back: outbox_due's predicate says so)
	 */
	if (SPI_execute_with_args("UPDATE webflow.outbox SET next_attempt_at = pg_catalog.now()"
							  " WHERE ctid OPERATOR(pg_catalog.=) ANY (ARRAY("
							  "   SELECT ctid FROM webflow.outbox"
							  "   WHERE state OPERATOR(pg_catalog.=) 'pending'"
							  "   AND next_attempt_at OPERATOR(pg_catalog.<>) enqueued_at"
							  "   AND next_attempt_at OPERATOR(pg_catalog.>) pg_catalog.now()"
							  "   AND next_attempt_at OPERATOR(pg_catalog.<=) $1"
							  "   FOR UPDATE SKIP LOCKED))",
							  1, argtypes, args, NULL, false, 0) < 0)
		elog(ERROR, "could not make the rows of a lifted pause due");
}

/*
 * unpack moves the changes of the oldest packed rows (of one connection's
 * bindings, unless connection is NULL) into the outbox.
 */
static void
unpack(const char *connection)
{
	Oid			argtypes[2] = {INT4OID, TEXTOID};
	Datum		args[2];

	args[0] = Int32GetDatum(UNPACK_ROWS);
	args[1] = connection ? CStringGetTextDatum(connection) : (Datum) 0;
	if (SPI_execute_with_args(psprintf(UNPACK_SQL, connection ? CLAIM_CONNECTION_SQL : ""),
							  connection ? 2 : 1, argtypes, args, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not unpack the packed outbox rows");
}

/*
 * claim marks due rows "sending", with every other pending row of their
 * row keys, and returns the newest state per row key as a list of Change.
 * When the bindings use several connections, each connection gets its
 * share of up to max_rows rows, so that one connection's backlog never
 * keeps another's rows out of a pass.  *nrows is the number of rows
 * claimed; *several says whether the bindings use several connections.
 */
static List *
claim(int max_rows, MemoryContext cxt, int *nrows, bool *several)
{
	HTAB	   *bindings = webflow_binding_table(cxt);
	List	   *names = NIL;
	List	   *result = NIL;
	ListCell   *lc;
	uint64		i;

	*nrows = 0;
	/* (the 1.0 SQL, which this library also runs, has no connection column) */
	if (SPI_execute("SELECT DISTINCT COALESCE(pg_catalog.to_jsonb(b) OPERATOR(pg_catalog.->>) 'connection', '')"
					" FROM webflow.bindings b ORDER BY 1", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the connections of the bindings");
	for (i = 0; i < SPI_processed; i++)
		names = lappend(names, MemoryContextStrdup(cxt, SPI_getvalue(SPI_tuptable->vals[i],
																	 SPI_tuptable->tupdesc, 1)));
	*several = list_length(names) > 1;
	if (!*several)
		return claim_rows(max_rows, NULL, bindings, cxt, nrows);
	foreach(lc, names)
	{
		List	   *rows = claim_rows(max_rows, lfirst(lc), bindings, cxt, nrows);
		MemoryContext old = MemoryContextSwitchTo(cxt);

		/* (the pass's list outlives this step's SPI memory) */
		result = list_concat(result, rows);
		MemoryContextSwitchTo(old);
	}
	return result;
}

/*
 * claim_rows claims up to max_rows due rows (of the bindings of connection
 * when not NULL), adds their number to *nrows and returns their changes.
 */
static List *
claim_rows(int max_rows, const char *connection, HTAB *bindings,
		   MemoryContext cxt, int *nrows)
{
	Oid			argtypes[2] = {INT4OID, TEXTOID};
	Datum		args[2];
	List	   *result = NIL;
	Change	   *c = NULL;
	SPITupleTable *rows;
	uint64		nrows_claimed;
	uint64		i;
	int			ret;
	const char *cond;
	bool		packed;

	args[0] = Int32GetDatum(max_rows);
	args[1] = connection ? CStringGetTextDatum(connection) : (Datum) 0;
	cond = connection ? CLAIM_CONNECTION_SQL : "";
	/* (the 1.0 SQL has no outbox_packed) */
	packed = webflow_sql_has_table("outbox_packed");
	if (packed)
		unpack(connection);
	ret = SPI_execute_with_args(psprintf(CLAIM_SQL, packed ? CLAIM_HELD_SQL : "", cond,
										 packed ? CLAIM_PACKED_SQL : "", cond, cond),
								connection ? 2 : 1, argtypes, args, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not claim outbox rows: %s", SPI_result_code_string(ret));
	*nrows += (int) SPI_processed;
	if (SPI_processed == 0)
		return NIL;
	/* load_binding runs queries of its own: keep hold of this result */
	rows = SPI_tuptable;
	nrows_claimed = SPI_processed;

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
			Binding    *b = webflow_load_binding(bindings, binding_id, cxt);

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
		if (!c->is_delete && c->image != NULL)
		{
			c->last_upsert_image = c->image;
			/* its create may have happened under the slug it had then */
			if (maybe_sent)
				c->unknown_images = lappend(c->unknown_images, c->image);
		}
		c->attempts = attempts;
		MemoryContextSwitchTo(old);
	}
	return result;
}

/* What from_image_step does, for try_step. */
typedef struct ImageStep
{
	Change	   *c;
	Jsonb	   *image;
	bool		slug_only;
	char	  **slug;
	char	  **name;			/* with slug_only, when not NULL: its name */
	MemoryContext cxt;
} ImageStep;

/*
 * try_step runs step(arg) in a subtransaction, in memory context cxt; it
 * returns NULL, or the error that stopped it (copied into cxt, where it
 * stays after this step's SPI ends).
 */
static ErrorData *
try_step(void (*step) (void *), void *arg, MemoryContext cxt)
{
	MemoryContext old = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	ErrorData  *volatile edata = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		step(arg);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
	CurrentResourceOwner = owner;
	return edata;
}

/*
 * from_image_step builds a payload, or works out a slug (and a name), for
 * from_image.
 */
static void
from_image_step(void *arg)
{
	ImageStep  *is = (ImageStep *) arg;
	Binding    *b = is->c->binding;

	if (b->payload == NULL)
		b->payload = webflow_payload_prepare(b->payload_options, is->cxt);
	if (is->slug_only)
	{
		*is->slug = webflow_payload_slug_of(b->payload, is->image);
		if (is->name != NULL)
			*is->name = webflow_payload_name_of(b->payload, is->image);
	}
	else
		is->c->payload = webflow_payload_build(b->payload, is->image);
}

/*
 * from_image runs, in a subtransaction, the payload build of a row image
 * (into c->payload) or, with slug_only, the working out of its slug (into
 * *slug) and, when name is not NULL, its name (into *name); it returns
 * NULL, or the error that stopped it (in cxt).
 */
static ErrorData *
from_image(Change *c, Jsonb *image, bool slug_only, MemoryContext cxt,
		   char **slug, char **name)
{
	ImageStep	is = {c, image, slug_only, slug, name, cxt};
	Oid			saved = webflow_set_reference_owner(c->binding->table_owner);
	ErrorData  *edata = try_step(from_image_step, &is, cxt);

	/* (references resolve only to collections of the table's owner) */
	webflow_set_reference_owner(saved);
	return edata;
}

/*
 * schema_step reads a collection's schema, fetching it when not cached
 * over the binding's connection.
 */
static void
schema_step(void *arg)
{
	Binding    *b = arg;
	WebflowPin	was = webflow_connection_pin(&b->conn);

	PG_TRY();
	{
		(void) webflow_schema_get(b->collection_id);
	}
	PG_FINALLY();
	{
		webflow_connection_unpin(was);
	}
	PG_END_TRY();
}

/*
 * build_payload builds a change's item, so that a row that cannot be
 * turned into an item fails alone (or waits for a row it references).
 */
static void
build_payload(Change *c, MemoryContext cxt)
{
	ErrorData  *edata;
	MemoryContext old;

	c->payload = NULL;
	webflow_forget_missing_reference();
	edata = from_image(c, c->image, false, cxt, NULL, NULL);
	if (edata == NULL)
		return;
	old = MemoryContextSwitchTo(cxt);
	c->error = edata->detail ?
		psprintf("%s (%s)", edata->message, edata->detail) :
		pstrdup(edata->message);
	MemoryContextSwitchTo(old);
	/* a referenced row not published yet: wait for it */
	c->reference_wait = edata->sqlerrcode == ERRCODE_FOREIGN_KEY_VIOLATION;
	c->outcome = c->reference_wait ? OUTCOME_RETRY : OUTCOME_FAILED;
	if (c->reference_wait &&
		webflow_missing_reference(&c->missing_collection, &c->missing_key))
	{
		c->missing_collection = MemoryContextStrdup(cxt, c->missing_collection);
		c->missing_key = MemoryContextStrdup(cxt, c->missing_key);
	}
}

/*
 * The references of a pass that are on their way: of the rows ($1
 * collections, $2 keys) that payload builds found no item for, the
 * ordinals of those queued to get one (the newest queued change, not
 * failed, is an upsert, not on its last attempt, $3).  Put-back rows are
 * read by key through outbox_row; fresh rows by one read of outbox_fresh
 * for the whole pass (it has no key), which the newest of a key always is
 * when it has one.  From 1.1 on (the two %s) a collection with packed
 * changes counts as having every key on its way: reading the keys of every
 * packed change for every pass would cost more than the wait, which ends
 * when its packed changes are unpacked (the oldest first, every pass).
 */
#define ON_ITS_WAY_SQL \
	"WITH w AS (SELECT * FROM unnest($1, $2) WITH ORDINALITY AS w(c, k, n))," \
	" fresh AS MATERIALIZED (SELECT o.id, o.op, o.attempts, b.collection_id AS c, o.row_key AS k" \
	"  FROM webflow.outbox o" \
	"  JOIN webflow.bindings b ON b.id OPERATOR(pg_catalog.=) o.binding_id" \
	"  WHERE " OUTBOX_FRESH_PREDICATE("o") \
	"    AND (b.collection_id, o.row_key) IN (SELECT c, k FROM w))%s" \
	" SELECT w.n FROM w WHERE (SELECT q.op OPERATOR(pg_catalog.=) 'upsert'" \
	"   AND q.attempts OPERATOR(pg_catalog.<) $3 FROM (" \
	"  SELECT o.id, o.op, o.attempts FROM webflow.outbox o" \
	"  JOIN webflow.bindings b ON b.id OPERATOR(pg_catalog.=) o.binding_id" \
	"  WHERE b.collection_id OPERATOR(pg_catalog.=) w.c" \
	"    AND o.row_key OPERATOR(pg_catalog.=) w.k" \
	"    AND o.state OPERATOR(pg_catalog.<>) 'failed'" \
	"    AND " OUTBOX_ROW_PREDICATE("o") \
	"  UNION ALL" \
	"  SELECT f.id, f.op, f.attempts FROM fresh f" \
	"  WHERE f.c OPERATOR(pg_catalog.=) w.c AND f.k OPERATOR(pg_catalog.=) w.k%s) q" \
	" ORDER BY q.id DESC LIMIT 1)"

/* ON_ITS_WAY_SQL's packed changes (1.1 on): a CTE, and their part of q */
#define ON_ITS_WAY_PACKED_CTE \
	", packed AS MATERIALIZED (SELECT DISTINCT b.collection_id AS c" \
	"  FROM webflow.outbox_packed p" \
	"  JOIN webflow.bindings b ON b.id OPERATOR(pg_catalog.=) p.binding_id)"
#define ON_ITS_WAY_PACKED_PART \
	"  UNION ALL" \
	"  SELECT 9223372036854775807, 'upsert', 0 FROM packed k" \
	"  WHERE k.c OPERATOR(pg_catalog.=) w.c"

/*
 * mark_references_on_its_way sets reference_queued on the changes that
 * wait for a referenced row queued to get its item: waiting for it is then
 * not the referencing row's failure.  (Rows that wait for each other, or a
 * row for itself, reach their last attempts and fail as before.)  One
 * statement for the whole pass.
 */
static void
mark_references_on_its_way(List *changes)
{
	ArrayBuildState *cols = initArrayResult(TEXTOID, CurrentMemoryContext, false);
	ArrayBuildState *keys = initArrayResult(TEXTOID, CurrentMemoryContext, false);
	Oid			types[3] = {TEXTARRAYOID, TEXTARRAYOID, INT4OID};
	Datum		args[3];
	Change	  **waiting = palloc(sizeof(Change *) * Max(list_length(changes), 1));
	int			nwaiting = 0;
	bool		packed;
	ListCell   *lc;

	foreach(lc, changes)
	{
		Change	   *c = lfirst(lc);

		if (c->missing_key == NULL)
			continue;
		accumArrayResult(cols, CStringGetTextDatum(c->missing_collection), false, TEXTOID,
						 CurrentMemoryContext);
		accumArrayResult(keys, CStringGetTextDatum(c->missing_key), false, TEXTOID,
						 CurrentMemoryContext);
		waiting[nwaiting++] = c;
	}
	if (nwaiting == 0)
		return;
	args[0] = makeArrayResult(cols, CurrentMemoryContext);
	args[1] = makeArrayResult(keys, CurrentMemoryContext);
	args[2] = Int32GetDatum(webflow_max_attempts - 1);
	packed = webflow_sql_has_table("outbox_packed");
	if (SPI_execute_with_args(psprintf(ON_ITS_WAY_SQL, packed ? ON_ITS_WAY_PACKED_CTE : "",
									   packed ? ON_ITS_WAY_PACKED_PART : ""),
							  3, types, args, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read webflow.outbox");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int64		n = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i],
												   SPI_tuptable->tupdesc, 1, &isnull));

		waiting[n - 1]->reference_queued = true;
	}
}

/*
 * image_slug sets *slug to the slug an item made from a row image has (NULL
 * when it has none), and *name to its name when name is not NULL; it
 * returns false, with the change's error set, when that cannot be worked
 * out now.
 */
static bool
image_slug(Change *c, Jsonb *image, MemoryContext cxt, char **slug, char **name)
{
	ErrorData  *edata;

	*slug = NULL;
	if (name != NULL)
		*name = NULL;
	edata = from_image(c, image, true, cxt, slug, name);
	if (edata == NULL)
		return true;
	c->error = MemoryContextStrdup(cxt,
								   psprintf("the slug an earlier attempt may have used cannot be worked out: %s",
											edata->message));
	return false;
}

/* add_candidate appends a copy of value to *list unless NULL or there. */
static void
add_candidate(List **list, char *value, MemoryContext cxt)
{
	ListCell   *lc;
	MemoryContext old;

	if (value == NULL)
		return;
	foreach(lc, *list)
		if (strcmp((char *) lfirst(lc), value) == 0)
			return;
	old = MemoryContextSwitchTo(cxt);
	*list = lappend(*list, pstrdup(value));
	MemoryContextSwitchTo(old);
}

/*
 * candidate_slugs lists the slugs a change's item may have in Webflow: those
 * of the states an earlier attempt may have created (worked out from the
 * slug and name alone: the rest of such a state may not make an item any
 * more), and the names of those states, for an item whose slug was changed
 * in the Designer since.  Only states that were sent count (the newest row
 * of a pass whose answer was lost): the row's state now, or an older one
 * the pass did not send, may never have made an item, and an item with its
 * slug may be another row's (two rows that traded names meanwhile).  It
 * returns false when one could not be worked out.
 */
static bool
candidate_slugs(Change *c, MemoryContext cxt)
{
	ListCell   *lc;

	foreach(lc, c->unknown_images)
	{
		char	   *slug;
		char	   *name;

		if (!image_slug(c, lfirst(lc), cxt, &slug, &name))
			return false;
		add_candidate(&c->candidate_slugs, slug, cxt);
		add_candidate(&c->candidate_names, name, cxt);
	}
	return true;
}

/*
 * check_schema makes sure, once per pass and binding, that the collection's
 * field schema is cached, fetching it from Webflow (a read, paced by the
 * rate limiter) when it is not.  Building payloads then asks Webflow
 * nothing.  A read that fails is the network's problem, never the rows':
 * they wait (a 401/403 pauses the queue); only a collection that Webflow
 * says does not exist fails them.
 */
static void
check_schema(Binding *b, PassOptions *opts, MemoryContext cxt)
{
	ErrorData  *edata;

	b->schema_checked = true;
	b->schema_outcome = OUTCOME_PENDING;
	if (b->conn_refusal != NULL)
	{
		/* (the binding's role lost its grant or mapping: not the rows' fault) */
		b->schema_outcome = OUTCOME_DEFER;
		b->schema_error = b->conn_refusal;
		return;
	}
	if (webflow_schema_cached(b->collection_id) != NULL)
		return;
	if (!webflow_budget_ready(&b->conn, opts->max_wait_ms))
	{
		b->schema_outcome = OUTCOME_DEFER;
		return;
	}
	edata = try_step(schema_step, b, cxt);
	if (edata == NULL)
	{
		webflow_outage_observe(&b->conn, true);
		return;
	}
	b->schema_error = MemoryContextStrdup(cxt, edata->detail ?
										  psprintf("%s (%s)", edata->message, edata->detail) :
										  edata->message);
	if (edata->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE)
	{
		/* (a user's open bind() stores it: wait a naptime, never for it) */
		b->schema_busy = true;
		b->schema_outcome = OUTCOME_DEFER;
	}
	else if (edata->sqlerrcode == ERRCODE_WEBFLOW_NOT_FOUND)
		b->schema_outcome = OUTCOME_FAILED;
	else if (edata->sqlerrcode == ERRCODE_WEBFLOW_AUTH ||
			 edata->sqlerrcode == ERRCODE_WEBFLOW_FORBIDDEN)
	{
		webflow_auth_pause(&b->conn,
						   psprintf("Webflow rejected the token%s%s%s reading collection %s (%s); the queue tries again on its own (with backoff), at once when %s is reloaded or on webflow.retry()",
									b->conn.name[0] ? " of connection \"" : "", b->conn.name,
									b->conn.name[0] ? "\"" : "", b->collection_id, edata->message,
									b->conn.name[0] ? "its user mapping" : "webflow.token (or webflow.token_file)"));
		b->schema_outcome = OUTCOME_DEFER;
	}
	else
	{
		/* (a site that does not answer holds up no other: it pauses) */
		webflow_outage_observe(&b->conn, false);
		if (opts->several_connections)
			webflow_outage_pause(&b->conn, edata->message);
		b->schema_outcome = OUTCOME_WAIT;
	}
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

	if (b->schema_outcome != OUTCOME_PENDING)
	{
		/* the collection's schema could not be read: the row waits */
		c->action = ACTION_NONE;
		c->outcome = (ChangeOutcome) b->schema_outcome;
		c->error = b->schema_error;
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
		if (c->item_id != NULL)
			c->action = webflow_delete_action(b);
		else if (c->maybe_sent && c->last_upsert_image != NULL &&
				 webflow_delete_action(b) != ACTION_NONE)
		{
			/* a create may have happened before the delete: find its item */
			if (!image_slug(c, c->last_upsert_image, cxt, &c->slug, NULL))
			{
				c->outcome = OUTCOME_RETRY;
				return;
			}
			/*
			 * (its slug and name are candidates only if that state was sent:
			 * candidate_slugs adds those of the states that were)
			 */
			c->action = ACTION_RESOLVE;
		}
		else
			c->action = ACTION_NONE;
	}
	else
	{
		build_payload(c, cxt);
		if (c->payload == NULL)
			return;				/* failed or waiting, with the reason */
		old = MemoryContextSwitchTo(cxt);
		c->slug = webflow_payload_slug(c->payload);
		c->hash = webflow_payload_hash_text(c->payload);
		MemoryContextSwitchTo(old);
		if (c->item_id != NULL && c->maybe_sent)
		{
			/*
			 * An earlier write to the item may have been carried out (its
			 * answer lost): what the item map says was sent is not known
			 * to be what the item has, so send the state in full.
			 */
			c->action = ACTION_UPDATE;
			c->mapped_slug = NULL;
		}
		else if (c->item_id != NULL)
			c->action = (c->mapped_hash != NULL && strcmp(c->mapped_hash, c->hash) == 0) ?
				ACTION_NONE : ACTION_UPDATE;
		else
			c->action = c->maybe_sent ? ACTION_RESOLVE : ACTION_CREATE;
	}
	if (c->action == ACTION_RESOLVE && !candidate_slugs(c, cxt))
	{
		/* (the lookup waits: a create now could make the item twice) */
		c->outcome = OUTCOME_RETRY;
		return;
	}
	if (c->action == ACTION_RESOLVE && c->candidate_slugs == NIL)
		c->action = c->is_delete ? ACTION_NONE : ACTION_CREATE;
	if (c->action == ACTION_NONE)
		c->outcome = OUTCOME_DONE;
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
	webflow_step_begin(opts);
	webflow_require_known_sql_version();
	if (!take_lock())
	{
		webflow_step_end(opts);
		return -1;
	}
	refresh_snapshot();
	make_resumed_due();
	/*
	 * rows a dead process left "sending" may have reached Webflow (one a
	 * user's transaction holds is left to it, or to a later pass): they are
	 * put back, due now, no longer fresh, so that a claim of an older row
	 * of their key takes them along through outbox_row (else the older
	 * state could overwrite theirs on the site); the newest of a key is
	 * the state the pass sent, the only one marked maybe sent
	 */
	if (SPI_execute(RECOVER_SENDING_SQL, false, 0) < 0)
		elog(ERROR, "could not recover outbox rows");

	changes = claim(max_rows, cxt, claimed, &opts->several_connections);
	if (changes == NIL)
	{
		webflow_drain_unlock();
		webflow_step_end(opts);
		return 0;
	}

	map_plan = SPI_prepare("SELECT item_id, slug, payload_hash FROM webflow.items"
						   " WHERE collection_id = $1 AND source_key = $2", 2, types);
	if (map_plan == NULL)
		elog(ERROR, "could not prepare the item map lookup");
	foreach(lc, changes)
	{
		Change	   *c = lfirst(lc);

		if (c->binding != NULL && !c->binding->schema_checked)
			check_schema(c->binding, opts, cxt);
		plan_change(c, map_plan, cxt);
		any_to_send |= c->outcome == OUTCOME_PENDING;
	}
	mark_references_on_its_way(changes);
	webflow_step_end(opts);

	old = MemoryContextSwitchTo(cxt);
	if (any_to_send)
		webflow_send_changes(changes, opts);
	MemoryContextSwitchTo(old);

	webflow_step_begin(opts);
	completed = webflow_record_pass(changes);
	webflow_step_end(opts);

	/*
	 * Let go of the drain lock only once the results are committed (and
	 * the next pass reads them from a snapshot taken after it got the lock).
	 */
	webflow_step_begin(opts);
	webflow_drain_unlock();
	webflow_step_end(opts);
	MemoryContextSwitchTo(old);
	return completed;
}
