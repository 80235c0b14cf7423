/*-------------------------------------------------------------------------
 *
 * outbox_batch.c
 *		The publish trigger's outbox rows of one statement, written together:
 *		kept in memory while the statement's AFTER triggers fire, then
 *		inserted in batches (outbox_write.c: one multi-insert, ids from as
 *		few nextval calls as the sequence allows; a batch of 500 or more
 *		packed, outbox_pack.c).
 *
 * The AFTER ROW triggers of a statement fire when its executor finishes
 * (ExecutorFinish), after every row of it was written.  The ExecutorFinish
 * hook here marks that time; a row the trigger queues then is kept, and
 * written when the statement's triggers are done, or when 1000 rows or
 * 1 MB are kept.  Outside that time (COPY, which fires its triggers itself,
 * logical replication, deferred constraint triggers, the first statement
 * of a session that had not loaded the library yet) rows are written one
 * by one, as before.
 *
 * What must hold:
 * - Order: a key's rows get rising ids in the order its changes were
 *   made and committed.  Kept rows are written in the order they were
 *   queued, and before anything else can write to the outbox: every
 *   other statement (ExecutorStart), utility command (ProcessUtility) and
 *   direct write first writes what is kept; so do a trigger of another
 *   statement or subtransaction, and the commit.  Ids are taken when the
 *   rows are written, which is after the statement wrote (and locked) its
 *   rows: a transaction that wrote the same key before committed before
 *   that, with lower ids, and one that writes it later waits for this one.
 * - Nothing of a rolled-back change: kept rows belong to one
 *   subtransaction; they are dropped when it (or a parent) aborts, or when
 *   an error leaves the statement's ExecutorFinish.  A subtransaction
 *   writes what it kept before it commits.
 * - Nothing lost with a subtransaction: rows kept for a subtransaction are
 *   written when the next statement starts, which may be in a child of it
 *   (a PL/pgSQL block with EXCEPTION, in a trigger that fires between two
 *   of ours).  Those rows are kept (RowsWritten) until that child commits
 *   into their own subtransaction; if it aborts instead, taking them back,
 *   they are kept for writing again.
 * - Nothing lost: the statement's end writes what it kept; a commit (or
 *   PREPARE) writes what is left, if anything is.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "executor/executor.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "outbox_batch.h"
#include "outbox_write.h"

/* Kept rows of at most this many bytes of keys and images. */
#define BATCH_MAX_BYTES (1024 * 1024)

/* The rows kept, of one statement and subtransaction. */
typedef struct OutboxBatch
{
	int			nrows;
	Size		bytes;
	int			depth;			/* finish_depth they were queued at */
	SubTransactionId subxid;	/* the subtransaction that queued them */
	MemoryContext context;		/* under TopTransactionContext */
	WebflowOutboxRow rows[WEBFLOW_OUTBOX_MAX_ROWS];
} OutboxBatch;

/*
 * Rows of subtransaction owner written while a child of it, written_in,
 * was the current one: given back to the batch if written_in aborts.
 */
typedef struct RowsWritten
{
	SubTransactionId owner;
	SubTransactionId written_in;
	int			depth;
	int			nrows;
	WebflowOutboxRow *rows;		/* in context */
	MemoryContext context;
	struct RowsWritten *next;
} RowsWritten;

static OutboxBatch batch;
static RowsWritten *written = NULL; /* under TopTransactionContext */
static int	finish_depth = 0;	/* our ExecutorFinish hooks on the stack */

static ExecutorStart_hook_type prev_executor_start = NULL;
static ExecutorFinish_hook_type prev_executor_finish = NULL;
static ProcessUtility_hook_type prev_process_utility = NULL;

static void batch_write(void);
static void batch_drop(void);
static void keep_written(void);
static void written_committed(SubTransactionId subid, SubTransactionId parent);
static void written_aborted(SubTransactionId subid);
static void batch_add(int32 binding_id, bool upsert, const char *row_key,
					  Jsonb *image);
static void batch_executor_start(QueryDesc *queryDesc, int eflags);
static void batch_executor_finish(QueryDesc *queryDesc);
static void batch_process_utility(PlannedStmt *pstmt, const char *queryString,
								  bool readOnlyTree, ProcessUtilityContext context,
								  ParamListInfo params, QueryEnvironment *queryEnv,
								  DestReceiver *dest, QueryCompletion *qc);
static void batch_xact_callback(XactEvent event, void *arg);
static void batch_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
								   SubTransactionId parentSubid, void *arg);

/*
 * batch_write writes the kept rows to the outbox, in their order; not
 * while they are being written (a statement an index expression of the
 * outbox runs).  The rows are of changes made while the transaction could
 * write: they are written even if it has turned read-only since (SET
 * transaction_read_only in a later trigger), as they were one by one.
 */
static void
batch_write(void)
{
	int			nrows = batch.nrows;
	bool		read_only = XactReadOnly;

	if (nrows == 0 || webflow_outbox_writing())
		return;
	/* (an error while writing drops them: the (sub)transaction aborts) */
	if (read_only && !RecoveryInProgress())
		XactReadOnly = false;
	PG_TRY();
	{
		webflow_outbox_write_rows(batch.rows, nrows);
	}
	PG_FINALLY();
	{
		XactReadOnly = read_only;
	}
	PG_END_TRY();
	if (batch.subxid != GetCurrentSubTransactionId())
		keep_written();
	else
		batch_drop();
}

/*
 * keep_written keeps the rows just written in a child of their
 * subtransaction, with their memory, in case that child aborts.
 */
static void
keep_written(void)
{
	RowsWritten *w = MemoryContextAlloc(TopTransactionContext, sizeof(RowsWritten));
	RowsWritten **last = &written;

	w->owner = batch.subxid;
	w->written_in = GetCurrentSubTransactionId();
	w->depth = batch.depth;
	w->nrows = batch.nrows;
	w->rows = MemoryContextAlloc(batch.context, sizeof(WebflowOutboxRow) * batch.nrows);
	memcpy(w->rows, batch.rows, sizeof(WebflowOutboxRow) * batch.nrows);
	w->context = batch.context;
	w->next = NULL;
	while (*last != NULL)
		last = &(*last)->next;
	*last = w;
	/* the batch starts again with a context of its own */
	batch.context = NULL;
	batch.nrows = 0;
	batch.bytes = 0;
}

/*
 * written_committed: rows written in subid now belong to its parent; kept
 * no longer once that is their own subtransaction.
 */
static void
written_committed(SubTransactionId subid, SubTransactionId parent)
{
	RowsWritten **link = &written;

	while (*link != NULL)
	{
		RowsWritten *w = *link;

		if (w->written_in == subid)
			w->written_in = parent;
		if (w->written_in == w->owner)
		{
			*link = w->next;
			MemoryContextDelete(w->context);
			pfree(w);
		}
		else
			link = &w->next;
	}
}

/*
 * written_aborted: rows of subid (or of its children) are gone; rows of an
 * older subtransaction that subid took back with it are kept again, to be
 * written at the next chance (the batch is empty: whatever was kept while
 * subid ran was of subid or a child of it).
 */
static void
written_aborted(SubTransactionId subid)
{
	RowsWritten **link = &written;

	while (*link != NULL)
	{
		RowsWritten *w = *link;

		if (w->owner < subid && w->written_in < subid)
		{
			link = &w->next;
			continue;
		}
		*link = w->next;
		if (w->owner < subid && batch.nrows > 0)
			elog(WARNING, "webflow: %d outbox rows taken back by a subtransaction were not kept again",
				 w->nrows);
		if (w->owner < subid && batch.nrows == 0)
		{
			if (batch.context != NULL)
				MemoryContextDelete(batch.context);
			batch.context = w->context;
			batch.nrows = w->nrows;
			memcpy(batch.rows, w->rows, sizeof(WebflowOutboxRow) * w->nrows);
			batch.subxid = w->owner;
			batch.depth = w->depth;
			batch.bytes = 0;
		}
		else
			MemoryContextDelete(w->context);
		pfree(w);
	}
}

/* batch_drop forgets the kept rows. */
static void
batch_drop(void)
{
	batch.nrows = 0;
	batch.bytes = 0;
	if (batch.context != NULL)
		MemoryContextReset(batch.context);
}

/* batch_add keeps a row, copied, for the statement's end. */
static void
batch_add(int32 binding_id, bool upsert, const char *row_key, Jsonb *image)
{
	WebflowOutboxRow *row;
	MemoryContext oldcontext;

	if (batch.context == NULL)
		batch.context = AllocSetContextCreate(TopTransactionContext,
											  "webflow outbox batch",
											  ALLOCSET_DEFAULT_SIZES);
	if (batch.nrows == 0)
	{
		batch.depth = finish_depth;
		batch.subxid = GetCurrentSubTransactionId();
	}
	oldcontext = MemoryContextSwitchTo(batch.context);
	row = &batch.rows[batch.nrows++];
	row->binding_id = binding_id;
	row->upsert = upsert;
	row->row_key = cstring_to_text(row_key);
	row->image = NULL;
	if (image != NULL)
	{
		row->image = palloc(VARSIZE(image));
		memcpy(row->image, image, VARSIZE(image));
	}
	MemoryContextSwitchTo(oldcontext);
	batch.bytes += VARSIZE(row->row_key) + (image != NULL ? VARSIZE(image) : 0);
	if (batch.nrows == WEBFLOW_OUTBOX_MAX_ROWS || batch.bytes >= BATCH_MAX_BYTES)
		batch_write();
}

/*
 * webflow_outbox_queue queues one outbox row of the publish trigger: kept
 * for the end of the statement whose triggers fire now, or written at once
 * (after what is kept) outside that time.
 */
void
webflow_outbox_queue(int32 binding_id, bool upsert, const char *row_key,
					 Jsonb *image)
{
	webflow_outbox_refuse_nested();
	if (batch.nrows > 0 &&
		(batch.depth != finish_depth || batch.subxid != GetCurrentSubTransactionId()))
		batch_write();
	if (finish_depth > 0)
		batch_add(binding_id, upsert, row_key, image);
	else
	{
		WebflowOutboxRow row = {binding_id, upsert, cstring_to_text(row_key), image};

		batch_write();
		webflow_outbox_write_rows(&row, 1);
	}
}

/* batch_executor_start writes the kept rows before another statement runs. */
static void
batch_executor_start(QueryDesc *queryDesc, int eflags)
{
	batch_write();
	if (prev_executor_start != NULL)
		prev_executor_start(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

/*
 * batch_executor_finish marks the time a statement's AFTER triggers fire,
 * and writes the rows they queued when they are done.
 */
static void
batch_executor_finish(QueryDesc *queryDesc)
{
	batch_write();
	finish_depth++;
	PG_TRY();
	{
		if (prev_executor_finish != NULL)
			prev_executor_finish(queryDesc);
		else
			standard_ExecutorFinish(queryDesc);
	}
	PG_CATCH();
	{
		/* the statement failed: what it queued is not to be written */
		if (batch.nrows > 0 && batch.depth >= finish_depth)
			batch_drop();
		finish_depth--;
		PG_RE_THROW();
	}
	PG_END_TRY();
	finish_depth--;
	batch_write();
}

/* batch_process_utility writes the kept rows before a utility command. */
static void
batch_process_utility(PlannedStmt *pstmt, const char *queryString,
					  bool readOnlyTree, ProcessUtilityContext context,
					  ParamListInfo params, QueryEnvironment *queryEnv,
					  DestReceiver *dest, QueryCompletion *qc)
{
	batch_write();
	if (prev_process_utility != NULL)
		prev_process_utility(pstmt, queryString, readOnlyTree, context,
							 params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
}

/* batch_xact_callback writes what is left before a commit, forgets it after. */
static void
batch_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			batch_write();
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			/* the contexts went with TopTransactionContext */
			batch.nrows = 0;
			batch.bytes = 0;
			batch.context = NULL;
			written = NULL;
			break;
		default:
			break;
	}
}

/*
 * batch_subxact_callback writes the rows a subtransaction kept before it
 * commits, and drops them when it aborts (rows of it or of a child of it:
 * those started later, with higher ids).
 */
static void
batch_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	switch (event)
	{
		case SUBXACT_EVENT_PRE_COMMIT_SUB:
			if (batch.nrows > 0 && batch.subxid >= mySubid)
				batch_write();
			break;
		case SUBXACT_EVENT_COMMIT_SUB:
			written_committed(mySubid, parentSubid);
			break;
		case SUBXACT_EVENT_ABORT_SUB:
			if (batch.nrows > 0 && batch.subxid >= mySubid)
				batch_drop();
			written_aborted(mySubid);
			break;
		default:
			break;
	}
}

/* webflow_outbox_batch_init installs the hooks and callbacks (_PG_init). */
void
webflow_outbox_batch_init(void)
{
	prev_executor_start = ExecutorStart_hook;
	ExecutorStart_hook = batch_executor_start;
	prev_executor_finish = ExecutorFinish_hook;
	ExecutorFinish_hook = batch_executor_finish;
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = batch_process_utility;
	RegisterXactCallback(batch_xact_callback, NULL);
	RegisterSubXactCallback(batch_subxact_callback, NULL);
}
