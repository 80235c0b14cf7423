/*-------------------------------------------------------------------------
 *
 * incoming.c
 *		Taking the publish trigger's rows from webflow.outbox_incoming into
 *		webflow.outbox, at the start of each pass.
 *
 * Under 1.1's SQL the trigger writes its rows into outbox_incoming, a
 * child of webflow.outbox without indexes (outbox_write.c), so that a
 * change costs the writer no index entry.  A pass takes them into the
 * outbox itself, where outbox_fresh finds them by id for the claim: one
 * statement moves them (the DELETE and the INSERT commit together or not
 * at all; ids and every other column kept), up to 10,000 per connection
 * and pass, so that a pass stays short behind a backlog of millions.
 * The pass's other statements
 * read the outbox ONLY, so a row still in outbox_incoming is to them a
 * change committed after the pass began.  That holds only if no key's
 * change is taken while an older change of the key stays behind: a row
 * that another transaction holds (a superuser's statement on the outbox)
 * stays, and so do the newer rows of its key, until a later pass.
 * Passes never run at once (the drain lock, drain.c), so no two takes
 * race; a row committed after the statement's snapshot waits for the
 * next pass.
 *
 * Rows taken leave dead tuples behind, which every later take reads
 * again until VACUUM has been: after a bulk load, the table of millions
 * of dead rows that nothing vacuums would make every pass slow.  So a
 * pass that finds outbox_incoming big and, once it could lock it without
 * waiting for anyone, empty, truncates it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "storage/lmgr.h"
#include "utils/snapmgr.h"

#include "incoming.h"
#include "publish.h"
#include "sql_version.h"

/*
 * The take: of the rows of outbox_incoming, the TAKE_MAX_ROWS oldest of
 * each connection ("chosen", one top-N read per connection, so that one connection's backlog
 * never keeps another's rows out of the outbox, as the claim gives each
 * connection its share), but those another transaction holds ("got" skips
 * them) and the rows of their keys with a higher id; deleted there and
 * inserted into the outbox in id order.  A key's rows left out for the
 * limit are newer than those of its connection taken.  The rows of a
 * binding that another transaction is deleting (an open unbind(), or a
 * DROP TABLE, whose deletes of the binding's queued rows hold them) are
 * left out before the limit, so that they never fill a connection's
 * share.  (The columns are
 * named: a column a superuser added to outbox_incoming alone is not
 * copied, rather than failing every pass.)
 */
#define TAKE_MAX_ROWS 10000

#define OUTBOX_COLUMNS \
	"id, binding_id, op, row_key, row_image, enqueued_at, attempts," \
	" next_attempt_at, state, claimed_at, maybe_sent, last_error, last_status"

#define TAKE_INCOMING_SQL \
	"WITH conns AS (" \
	"  SELECT DISTINCT COALESCE(b.connection, '') AS c FROM webflow.bindings b" \
	"  UNION SELECT '')," \
	" " FREE_BINDINGS_SQL "," \
	" chosen AS (" \
	"  SELECT x.id, x.binding_id, x.row_key, x.ctid FROM conns, LATERAL (" \
	"    SELECT i.id, i.binding_id, i.row_key, i.ctid FROM ONLY webflow.outbox_incoming i" \
	"    LEFT JOIN webflow.bindings b ON b.id OPERATOR(pg_catalog.=) i.binding_id" \
	"    WHERE COALESCE(b.connection, '') OPERATOR(pg_catalog.=) conns.c" \
	"      AND (b.id IS NULL OR b.id IN (SELECT id FROM free_bindings))" \
	"    ORDER BY i.id LIMIT $1) x)," \
	" got AS (" \
	"  SELECT i.id, i.binding_id, i.row_key, i.ctid FROM ONLY webflow.outbox_incoming i" \
	"  WHERE i.ctid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT ctid FROM chosen))" \
	"  FOR UPDATE SKIP LOCKED)," \
	" held AS (" \
	"  SELECT c.binding_id, c.row_key, pg_catalog.min(c.id) AS id FROM chosen c" \
	"  WHERE NOT EXISTS (SELECT FROM got g WHERE g.id OPERATOR(pg_catalog.=) c.id" \
	"    AND g.ctid OPERATOR(pg_catalog.=) c.ctid)" \
	"  GROUP BY c.binding_id, c.row_key)," \
	" taken AS (" \
	"  DELETE FROM ONLY webflow.outbox_incoming i" \
	"  WHERE i.ctid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT g.ctid FROM got g" \
	"    WHERE NOT EXISTS (SELECT FROM held h" \
	"      WHERE h.binding_id OPERATOR(pg_catalog.=) g.binding_id" \
	"        AND h.row_key OPERATOR(pg_catalog.=) g.row_key" \
	"        AND h.id OPERATOR(pg_catalog.<) g.id)))" \
	"  RETURNING " OUTBOX_COLUMNS ")" \
	" INSERT INTO webflow.outbox (" OUTBOX_COLUMNS ")" \
	" SELECT " OUTBOX_COLUMNS " FROM taken ORDER BY id"

static SPIPlanPtr take_plan = NULL;

/*
 * webflow_take_incoming moves the trigger's committed rows (up to
 * TAKE_MAX_ROWS per connection) into webflow.outbox and returns how many it moved (none under 1.0's SQL,
 * which has no outbox_incoming).  Runs inside a pass's step (SPI
 * connected).
 */
uint64
webflow_take_incoming(void)
{
	Datum		args[1];
	int			ret;

	if (!webflow_sql_has_table("outbox_incoming"))
		return 0;
	if (take_plan == NULL)
	{
		Oid			argtypes[1] = {INT4OID};
		SPIPlanPtr	plan = SPI_prepare(TAKE_INCOMING_SQL, 1, argtypes);

		if (plan == NULL)
			elog(ERROR, "could not prepare the take of webflow.outbox_incoming: %s",
				 SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		take_plan = plan;
	}
	args[0] = Int32GetDatum(TAKE_MAX_ROWS);
	ret = SPI_execute_plan(take_plan, args, NULL, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not take the rows of webflow.outbox_incoming: %s",
			 SPI_result_code_string(ret));
	return SPI_processed;
}

/* From this size on (1 MB), an empty outbox_incoming is truncated. */
#define SHRINK_MIN_BYTES (1024 * 1024)

/*
 * webflow_shrink_incoming truncates outbox_incoming when it is big and
 * empty: it takes the table's ACCESS EXCLUSIVE lock only if no one holds
 * a lock on it (no writer's transaction is open on it, none prepared),
 * and looks for rows only then, with a snapshot taken after the lock (not
 * the step's), so that no row committed or to be committed goes.  Runs in a pass's step
 * of its own (SPI connected), which commits at once: writers wait at most
 * for that.
 */
void
webflow_shrink_incoming(void)
{
	Oid			relid;
	SPIPlanPtr	plan;
	bool		isnull;
	Datum		d;

	if (!webflow_sql_has_table("outbox_incoming"))
		return;
	if (SPI_execute("SELECT pg_catalog.pg_relation_size('webflow.outbox_incoming')",
					true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the size of webflow.outbox_incoming");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull || DatumGetInt64(d) < SHRINK_MIN_BYTES)
		return;
	relid = webflow_extension_table("outbox_incoming");
	if (!ConditionalLockRelationOid(relid, AccessExclusiveLock))
		return;
	/* (with a snapshot taken now, after the lock, whatever the isolation) */
	plan = SPI_prepare("SELECT EXISTS (SELECT FROM ONLY webflow.outbox_incoming)", 0, NULL);
	if (plan == NULL ||
		SPI_execute_snapshot(plan, NULL, NULL, GetLatestSnapshot(), InvalidSnapshot,
							 true, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read webflow.outbox_incoming");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (DatumGetBool(d))
		return;
	if (SPI_execute("TRUNCATE ONLY webflow.outbox_incoming", false, 0) != SPI_OK_UTILITY)
		elog(ERROR, "could not truncate webflow.outbox_incoming");
}
