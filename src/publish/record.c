/*-------------------------------------------------------------------------
 *
 * record.c
 *		The last step of an outbox pass: write down, in one short
 *		transaction and a handful of set-based statements, how each change
 *		ended: done rows deleted (with the rows they superseded), item ids
 *		into webflow.items, the others back to pending after a jittered,
 *		capped exponential backoff, or failed for good.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
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
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"

#include "jsonb_util.h"
#include "publish.h"
#include "ratelimit.h"
#include "record.h"
#include "shmem.h"
#include "webflow.h"

/*
 * A set-based statement of the record step: one array per column, filled
 * row by row (accumArrayResult) and run once with the arrays as $1..$n
 * (and an optional scalar after them).
 */
typedef struct ArrayStatement
{
	const char *sql;
	int			ncols;
	Oid			elem_types[9];
	ArrayBuildState *cols[9];
	int			nrows;
} ArrayStatement;

/* The statements of one record step, run in this order. */
typedef struct RecordStep
{
	ArrayStatement superseded;	/* older rows of keys now done */
	ArrayStatement held;		/* done rows whose older rows are held */
	ArrayStatement done_rows;	/* outbox rows completed */
	ArrayStatement unmap;		/* item map deletes */
	ArrayStatement map;			/* item map upserts */
	ArrayStatement requeue;		/* rows that stay: retried, failed, waiting */
	ArrayStatement align;		/* rows of slug holders: due with the waiter */
	ArrayStatement align_waiter;	/* ... and the waiter with them */
	ArrayStatement ok_bindings; /* bindings that succeeded */
	ArrayStatement bad_bindings;	/* bindings with a row failed for good */
	int64		completed;
	int64		failed;
	double		jitter;
} RecordStep;

static void stmt_init(ArrayStatement *st, const char *sql, int ncols, const Oid *types);
static void stmt_add(ArrayStatement *st, const Datum *values, const bool *nulls);
static void stmt_run(ArrayStatement *st, bool has_scalar, Oid scalar_type, Datum scalar);
static void step_init(RecordStep *rs);
static void record_mapping(RecordStep *rs, Change *c);
static void record_done(RecordStep *rs, Change *c);
static void record_staying(RecordStep *rs, Change *c);
static Datum delete_superseded(RecordStep *rs);
static void step_run(RecordStep *rs);
static double backoff_seconds(int attempts, double jitter);

static double wait_seconds(Change *c, double jitter);
static bool counts_attempt(Change *c);

/* Longest wait of a row for a referenced row that is queued to get an item. */
#define REFERENCE_WAIT_MAX_S 30.0

/*
 * backoff_seconds is the wait before the next attempt: exponential in the
 * attempts made, capped at five minutes, times the pass's jitter (so that
 * the rows of one batch stay together and are sent again as one batch).
 */
static double
backoff_seconds(int attempts, double jitter)
{
	return Min(300.0, pow(2.0, Max(attempts - 1, 0))) * jitter;
}

/* stmt_init prepares a statement with ncols array parameters of these element types. */
static void
stmt_init(ArrayStatement *st, const char *sql, int ncols, const Oid *types)
{
	Assert(ncols <= lengthof(st->cols));
	st->sql = sql;
	st->ncols = ncols;
	st->nrows = 0;
	for (int i = 0; i < ncols; i++)
	{
		st->elem_types[i] = types[i];
		st->cols[i] = initArrayResult(types[i], CurrentMemoryContext, false);
	}
}

/* stmt_add adds one row of values (nulls may be NULL: no nulls). */
static void
stmt_add(ArrayStatement *st, const Datum *values, const bool *nulls)
{
	for (int i = 0; i < st->ncols; i++)
		accumArrayResult(st->cols[i], values[i], nulls ? nulls[i] : false,
						 st->elem_types[i], CurrentMemoryContext);
	st->nrows++;
}

/*
 * stmt_run runs the statement with its arrays (and the scalar, as the
 * last parameter) when it has rows.
 */
static void
stmt_run(ArrayStatement *st, bool has_scalar, Oid scalar_type, Datum scalar)
{
	Oid			types[10];
	Datum		args[10];
	int			nargs = st->ncols;
	int			ret;

	if (st->nrows == 0)
		return;
	for (int i = 0; i < st->ncols; i++)
	{
		types[i] = get_array_type(st->elem_types[i]);
		args[i] = makeArrayResult(st->cols[i], CurrentMemoryContext);
	}
	if (has_scalar)
	{
		types[nargs] = scalar_type;
		args[nargs++] = scalar;
	}
	ret = SPI_execute_with_args(st->sql, nargs, types, args, NULL, false, 0);
	if (ret < 0)
		elog(ERROR, "webflow: recording the pass failed: %s", SPI_result_code_string(ret));
}

/*
 * A claimed row ("sending", or put back) is found by its binding, row key
 * and id through outbox_row, whose predicate the statements say (the
 * outbox has no index on id alone).
 */
#define CLAIMED(a) " AND " OUTBOX_ROW_PREDICATE(a)

/* step_init prepares the statements of a record step. */
static void
step_init(RecordStep *rs)
{
	static const Oid done_rows[] = {INT4OID, TEXTOID, INT8OID};
	static const Oid superseded[] = {INT4OID, TEXTOID, INT8OID};
	static const Oid unmap[] = {TEXTOID, TEXTOID};
	static const Oid map[] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, BOOLOID};
	static const Oid requeue[] = {INT4OID, TEXTOID, INT8OID, INT4OID, FLOAT8OID, TEXTOID,
	INT4OID, BOOLOID, BOOLOID};
	static const Oid align[] = {INT4OID, TEXTOID, INT8OID, TEXTOID};
	static const Oid ok_bindings[] = {INT4OID};
	static const Oid bad_bindings[] = {INT4OID, TEXTOID};

	/*
	 * The older rows of a done change's key (failed, or pending again
	 * after a retry(), or left out of the claim because another
	 * transaction held them then) are deleted, unless another transaction
	 * holds them (a retry() not committed yet): the worker never waits for
	 * a user's transaction.  The statement returns the done changes whose
	 * older rows it could not delete.  Older fresh rows are not looked for
	 * (that would read every fresh row: outbox_fresh has no key): the
	 * claim takes the oldest fresh rows, and a key's changes get their ids
	 * in the order they commit (its writers wait for each other's row lock
	 * or key index), so none is left below a claimed one (a fresh row
	 * another transaction held at the claim keeps the newer rows of its
	 * key out of that claim, see drain.c).
	 */
	stmt_init(&rs->superseded,
			  "WITH d AS (SELECT * FROM unnest($1, $2, $3) AS d(b, k, m)),"
			  " older AS (SELECT o.ctid AS t, d.b, d.k, d.m FROM webflow.outbox o JOIN d"
			  "   ON o.binding_id = d.b AND o.row_key = d.k AND o.id < d.m"
			  "   WHERE o.state <> 'sending'" CLAIMED("o") "),"
			  " free AS (SELECT o.ctid AS t FROM webflow.outbox o"
			  "   WHERE o.ctid = ANY (ARRAY(SELECT t FROM older)) FOR UPDATE SKIP LOCKED),"
			  " gone AS (DELETE FROM webflow.outbox o USING free WHERE o.ctid = free.t"
			  "   RETURNING o.ctid AS t)"
			  " SELECT DISTINCT b, k, m FROM older WHERE t NOT IN (SELECT t FROM gone)",
			  3, superseded);
	/* (filled from what rs->superseded returns) */
	stmt_init(&rs->held,
			  "UPDATE webflow.outbox o SET state = 'pending', claimed_at = NULL,"
			  " next_attempt_at = now() + make_interval(secs => $4)"
			  " FROM unnest($1, $2, $3) AS d(b, k, id)"
			  " WHERE o.binding_id = d.b AND o.row_key = d.k AND o.id = d.id" CLAIMED("o"),
			  3, superseded);
	/*
	 * (the rows of the pass are its own: no user's transaction writes a
	 * row in flight; should one all the same, the row is left to it, or to
	 * the next pass, which finds it still "sending" and sends it again as
	 * maybe sent)
	 */
	stmt_init(&rs->done_rows, "DELETE FROM webflow.outbox WHERE ctid = ANY (ARRAY("
			  " SELECT o.ctid FROM webflow.outbox o JOIN unnest($1, $2, $3) AS d(b, k, id)"
			  "   ON o.binding_id = d.b AND o.row_key = d.k AND o.id = d.id"
			  " WHERE d.id <> ALL ($4)" CLAIMED("o") " FOR UPDATE OF o SKIP LOCKED))",
			  3, done_rows);
	stmt_init(&rs->unmap,
			  "DELETE FROM webflow.items i USING unnest($1, $2) AS d(c, k)"
			  " WHERE i.collection_id = d.c AND i.source_key = d.k", 2, unmap);
	stmt_init(&rs->map,
			  "INSERT INTO webflow.items AS i"
			  " (collection_id, source_key, item_id, slug, payload_hash, last_published)"
			  " SELECT DISTINCT ON (c, k) c, k, it, s, h, CASE WHEN p THEN now() END"
			  " FROM unnest($1, $2, $3, $4, $5, $6) WITH ORDINALITY AS d(c, k, it, s, h, p, n)"
			  " ORDER BY c, k, n DESC"
			  " ON CONFLICT (collection_id, source_key) DO UPDATE"
			  " SET item_id = EXCLUDED.item_id, slug = EXCLUDED.slug,"
			  "     payload_hash = EXCLUDED.payload_hash,"
			  "     last_published = coalesce(EXCLUDED.last_published, i.last_published)",
			  6, map);
	stmt_init(&rs->requeue,
			  "UPDATE webflow.outbox o SET"
			  " state = CASE WHEN d.fail OR (d.inc > 0 AND o.attempts + d.inc >= $10)"
			  "         THEN 'failed' ELSE 'pending' END,"
			  " attempts = o.attempts + d.inc,"
			  " next_attempt_at = now() + make_interval(secs => d.delay),"
			  " last_error = coalesce(d.err, o.last_error),"
			  " last_status = coalesce(d.status, o.last_status),"
			  " maybe_sent = o.maybe_sent OR d.unknown,"
			  " claimed_at = NULL"
			  " FROM unnest($1, $2, $3, $4, $5, $6, $7, $8, $9)"
			  "   AS d(b, k, id, inc, delay, err, status, unknown, fail)"
			  " WHERE o.binding_id = d.b AND o.row_key = d.k AND o.id = d.id"
			  "   AND o.ctid = ANY (ARRAY(SELECT x.ctid FROM webflow.outbox x"
			  "     JOIN unnest($1, $2, $3) AS e(b, k, id)"
			  "       ON x.binding_id = e.b AND x.row_key = e.k AND x.id = e.id"
			  "     WHERE true" CLAIMED("x") " FOR UPDATE OF x SKIP LOCKED))", 9, requeue);
	/*
	 * The waiter's row (w, requeued just before) and the pending rows of
	 * the slug holder's key come due together, at the earlier of their
	 * times (so that rows waiting in a cycle, three rotating their slugs,
	 * all come due at the earliest of theirs, instead of each moving the
	 * next away from its own holder): a holder row put back is brought
	 * forward to the waiter's time when that is earlier, a fresh one (due
	 * now, but maybe behind a backlog) moved to it; then the waiter's rows
	 * to the holder's earliest.  Rows a user's open transaction holds are
	 * left as they are.
	 */
	stmt_init(&rs->align,
			  "UPDATE webflow.outbox o SET next_attempt_at = CASE"
			  "   WHEN o.next_attempt_at = o.enqueued_at THEN w.next_attempt_at"
			  "   ELSE least(o.next_attempt_at, w.next_attempt_at) END"
			  " FROM unnest($1, $2, $3, $4) AS d(b, wk, wid, hk)"
			  " JOIN webflow.outbox w ON w.binding_id = d.b AND w.row_key = d.wk"
			  "   AND w.id = d.wid" CLAIMED("w")
			  " WHERE o.binding_id = d.b AND o.row_key = d.hk"
			  "   AND o.state = 'pending' AND w.state = 'pending'"
			  "   AND o.ctid = ANY (ARRAY(SELECT x.ctid FROM webflow.outbox x"
			  "     JOIN unnest($1, $4) AS e(b, k) ON x.binding_id = e.b AND x.row_key = e.k"
			  "     WHERE x.state = 'pending'" CLAIMED("x") " FOR UPDATE OF x SKIP LOCKED)"
			  "   || ARRAY(SELECT x.ctid FROM webflow.outbox x"
			  "     JOIN unnest($1, $4) AS e(b, k) ON x.binding_id = e.b AND x.row_key = e.k"
			  "     WHERE " OUTBOX_FRESH_PREDICATE("x") " FOR UPDATE OF x SKIP LOCKED))",
			  4, align);
	stmt_init(&rs->align_waiter,
			  "UPDATE webflow.outbox w SET next_attempt_at = h.t"
			  " FROM (SELECT d.b, d.wk, min(o.next_attempt_at) AS t"
			  "   FROM unnest($1, $2, $3, $4) AS d(b, wk, wid, hk)"
			  "   JOIN webflow.outbox o ON o.binding_id = d.b AND o.row_key = d.hk"
			  "   WHERE o.state = 'pending'" CLAIMED("o") " GROUP BY d.b, d.wk) h"
			  " WHERE w.binding_id = h.b AND w.row_key = h.wk AND w.state = 'pending'"
			  "   AND w.next_attempt_at > h.t"
			  "   AND w.ctid = ANY (ARRAY(SELECT x.ctid FROM webflow.outbox x"
			  "     JOIN unnest($1, $2) AS e(b, k) ON x.binding_id = e.b AND x.row_key = e.k"
			  "     WHERE x.state = 'pending'" CLAIMED("x") " FOR UPDATE OF x SKIP LOCKED))",
			  4, align);
	/*
	 * (a binding that a user's open bind() or unbind() holds keeps its
	 * last outcome: these columns only report, and nobody is waited for)
	 */
	stmt_init(&rs->ok_bindings,
			  "UPDATE webflow.bindings SET last_success = now() WHERE id IN"
			  " (SELECT id FROM webflow.bindings WHERE id = ANY($1) FOR UPDATE SKIP LOCKED)",
			  1, ok_bindings);
	stmt_init(&rs->bad_bindings,
			  "UPDATE webflow.bindings b SET last_error = d.e, last_error_at = now()"
			  " FROM (SELECT DISTINCT ON (b) b, e FROM unnest($1, $2) AS u(b, e)) d"
			  " WHERE b.id = d.b AND b.id IN (SELECT id FROM webflow.bindings"
			  "   WHERE id = ANY($1) FOR UPDATE SKIP LOCKED)", 2, bad_bindings);
	rs->completed = 0;
	rs->failed = 0;
	rs->jitter = 0.5 + 0.5 * ((double) random() / (double) PG_INT32_MAX);
}

/*
 * record_mapping writes down the item a change mapped its row to (or that
 * its row has no item any more).  A found or adopted item whose update
 * did not go through keeps the slug it was found with, and no hash (so
 * that the update is sent again).
 */
static void
record_mapping(RecordStep *rs, Change *c)
{
	bool		done = c->outcome == OUTCOME_DONE;
	bool		keep_hash;
	char	   *slug;

	if (c->binding == NULL || (c->new_item_id == NULL && !c->unmap))
		return;
	if (c->new_item_id == NULL)
	{
		Datum		v[2] = {CStringGetTextDatum(c->binding->collection_id),
		CStringGetTextDatum(c->row_key)};

		stmt_add(&rs->unmap, v, NULL);
		return;
	}
	keep_hash = done && (c->action == ACTION_CREATE || c->action == ACTION_UPDATE ||
						 c->action == ACTION_RESOLVE);
	slug = done && c->slug ? c->slug : c->mapped_slug;
	{
		Datum		v[6] = {CStringGetTextDatum(c->binding->collection_id),
			CStringGetTextDatum(c->row_key),
			CStringGetTextDatum(c->new_item_id),
			slug ? CStringGetTextDatum(slug) : (Datum) 0,
			keep_hash && c->hash ? CStringGetTextDatum(c->hash) : (Datum) 0,
		BoolGetDatum(c->binding->live && keep_hash)};
		bool		n[6] = {false, false, false, slug == NULL, !keep_hash || c->hash == NULL, false};

		stmt_add(&rs->map, v, n);
	}
}

/*
 * record_done deletes a done change's outbox rows (its newest and those it
 * superseded) and the failed rows of its key.
 */
static void
record_done(RecordStep *rs, Change *c)
{
	ListCell   *lc;
	Datum		key[3] = {Int32GetDatum(c->binding_id), CStringGetTextDatum(c->row_key),
	Int64GetDatum(c->newest_id)};

	stmt_add(&rs->done_rows, key, NULL);
	foreach(lc, c->older_ids)
	{
		Datum		older[3] = {key[0], key[1], Int64GetDatum(*(int64 *) lfirst(lc))};

		stmt_add(&rs->done_rows, older, NULL);
	}
	rs->completed += 1 + list_length(c->older_ids);
	stmt_add(&rs->superseded, key, NULL);
	if (c->binding != NULL && c->action != ACTION_NONE)
	{
		Datum		b = Int32GetDatum(c->binding_id);

		stmt_add(&rs->ok_bindings, &b, NULL);
	}
}

/*
 * wait_seconds is how long a change that is not its own fault waits: after
 * a failed read over its connection, the outage delay (jittered); when its
 * connection is paused, until the pause ends; when the binding's role may
 * no longer use its connection, ten naptimes (at most a minute); while
 * another transaction stores its collection's schema, a naptime.
 */
static double
wait_seconds(Change *c, double jitter)
{
	WebflowConnection none = {""};
	const WebflowConnection *conn = c->binding ? &c->binding->conn : &none;

	if (c->outcome == OUTCOME_WAIT)
		return webflow_outage_delay(conn) * jitter;
	if (c->binding != NULL && c->binding->conn_refusal != NULL)
		return Min(60.0, 10.0 * Max(webflow_naptime_s, 1));
	if (c->binding != NULL && c->binding->schema_busy)
		return Max(webflow_naptime_s, 1) * jitter;
	return webflow_budget_resume_in(conn);
}

/*
 * counts_attempt says whether a change that stays counts an attempt: a
 * retry or a failure does, except the last one of a row that waits for a
 * referenced row queued to get its item, or for a slug whose holder's row
 * has a change queued (the wait is not the row's fault, however long the
 * other row takes: a pause, an outage, three rows rotating their slugs).
 */
static bool
counts_attempt(Change *c)
{
	if (c->outcome == OUTCOME_FAILED)
		return true;
	if (c->outcome != OUTCOME_RETRY)
		return false;
	return !((c->reference_queued || c->slug_holder_queued) &&
			 c->attempts + 1 >= webflow_max_attempts);
}

/*
 * record_staying puts a change that is not done back in the queue (after
 * its backoff or the outage delay) or marks it failed; the rows it
 * superseded keep their images and "maybe sent" marks (the slugs an
 * earlier create may have used) and follow it, so that they are claimed
 * with it again.  A change that waits for a slug another queued row's item
 * holds comes due with that row, at the earlier of their times, so that
 * the two meet in one pass (where the holder gives the slug up).
 */
static void
record_staying(RecordStep *rs, Change *c)
{
	ListCell   *lc;
	bool		counts = counts_attempt(c);
	double		delay = c->outcome == OUTCOME_WAIT || c->outcome == OUTCOME_DEFER ?
		wait_seconds(c, rs->jitter) :
		c->outcome != OUTCOME_RETRY ? 0.0 :
		c->reference_wait && c->attempts < 2 ? 0.0 :
		c->reference_queued || c->slug_holder_queued ?
		Min(REFERENCE_WAIT_MAX_S, backoff_seconds(c->attempts + 1, rs->jitter)) :
		backoff_seconds(c->attempts + 1, rs->jitter);
	Datum		v[9] = {Int32GetDatum(c->binding_id), CStringGetTextDatum(c->row_key),
		Int64GetDatum(c->newest_id), Int32GetDatum(counts ? 1 : 0),
		Float8GetDatum(delay), c->error ? CStringGetTextDatum(c->error) : (Datum) 0,
		Int32GetDatum(c->status), BoolGetDatum(c->unknown_outcome),
	BoolGetDatum(c->outcome == OUTCOME_FAILED)};
	bool		n[9] = {false, false, false, false, false, c->error == NULL, c->status == 0,
	false, false};

	stmt_add(&rs->requeue, v, n);
	/*
	 * (only the newest state was sent: the older rows keep their own marks,
	 * and a state never sent is no slug to look its item up under)
	 */
	v[7] = BoolGetDatum(false);
	foreach(lc, c->older_ids)
	{
		v[2] = Int64GetDatum(*(int64 *) lfirst(lc));
		n[5] = n[6] = true;
		stmt_add(&rs->requeue, v, n);
	}
	if (c->slug_holder_key != NULL)
	{
		/* the row whose item holds the slug comes due with this one */
		Datum		a[4] = {v[0], v[1], Int64GetDatum(c->newest_id),
		CStringGetTextDatum(c->slug_holder_key)};

		stmt_add(&rs->align, a, NULL);
		stmt_add(&rs->align_waiter, a, NULL);
	}
	if (c->outcome == OUTCOME_FAILED ||
		(c->outcome == OUTCOME_RETRY && counts && c->attempts + 1 >= webflow_max_attempts))
	{
		rs->failed++;
		if (c->binding != NULL && c->error != NULL)
		{
			Datum		b[2] = {Int32GetDatum(c->binding_id), CStringGetTextDatum(c->error)};

			stmt_add(&rs->bad_bindings, b, NULL);
		}
	}
}

/*
 * delete_superseded deletes the older rows of the keys now done, puts the
 * done rows whose older rows another transaction holds (a retry() not
 * committed yet) into rs->held (counted out of rs->completed), and returns
 * their ids as an int8[].  Those rows stay queued, no attempt counted, so
 * that they are claimed with the held rows once they are free and their
 * newer state wins.
 */
static Datum
delete_superseded(RecordStep *rs)
{
	ArrayBuildState *ids = initArrayResult(INT8OID, CurrentMemoryContext, false);

	if (rs->superseded.nrows > 0)
	{
		stmt_run(&rs->superseded, false, InvalidOid, (Datum) 0);
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			Datum		v[3];
			bool		n[3];

			for (int i = 0; i < 3; i++)
				v[i] = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, i + 1,
									 &n[i]);
			stmt_add(&rs->held, v, n);
			accumArrayResult(ids, v[2], n[2], INT8OID, CurrentMemoryContext);
			rs->completed--;
		}
	}
	return makeArrayResult(ids, CurrentMemoryContext);
}

/* step_run runs the record step's statements, in order. */
static void
step_run(RecordStep *rs)
{
	Datum		held = delete_superseded(rs);

	stmt_run(&rs->done_rows, true, INT8ARRAYOID, held);
	stmt_run(&rs->held, true, FLOAT8OID, Float8GetDatum(Max(webflow_naptime_s, 1)));
	stmt_run(&rs->unmap, false, InvalidOid, (Datum) 0);
	stmt_run(&rs->map, false, InvalidOid, (Datum) 0);
	stmt_run(&rs->requeue, true, INT4OID, Int32GetDatum(webflow_max_attempts));
	stmt_run(&rs->align, false, InvalidOid, (Datum) 0);
	stmt_run(&rs->align_waiter, false, InvalidOid, (Datum) 0);
	stmt_run(&rs->ok_bindings, false, InvalidOid, (Datum) 0);
	stmt_run(&rs->bad_bindings, false, InvalidOid, (Datum) 0);
}

/*
 * webflow_record_pass writes the outcome of every change of a pass and
 * returns how many outbox rows were completed.
 */
int64
webflow_record_pass(List *changes)
{
	RecordStep	rs;
	ListCell   *lc;
	WebflowShared *s = webflow_shared();

	step_init(&rs);
	foreach(lc, changes)
	{
		Change	   *c = lfirst(lc);

		record_mapping(&rs, c);
		if (c->outcome == OUTCOME_DONE)
			record_done(&rs, c);
		else
			record_staying(&rs, c);
	}
	step_run(&rs);

	SpinLockAcquire(&s->mutex);
	s->rows_done += rs.completed;
	s->rows_failed += rs.failed;
	if (rs.ok_bindings.nrows > 0)
		s->last_success = GetCurrentTimestamp();
	SpinLockRelease(&s->mutex);
	return rs.completed;
}
