/*-------------------------------------------------------------------------
 *
 * outbox_write.c
 *		Writing rows into webflow.outbox for the publish trigger without
 *		SPI and without the executor: the tuples are formed in C, inserted
 *		with table_tuple_insert (one row) or table_multi_insert (the rows
 *		of a statement, outbox_batch.c), and their index entries are made
 *		the way ExecInsertIndexTuples makes them (partial indexes included);
 *		500 or more at once are packed instead (outbox_pack.c).
 *
 * An INSERT through SPI built and tore down an executor per row: the
 * plan's revalidation, the table's CHECK constraints read back from their
 * text form, the index predicates compiled again.  Here what does not
 * change is worked out once per session and kept until webflow.outbox or
 * one of its indexes changes (a relcache invalidation): the columns'
 * places, the id sequence, and each index's IndexInfo with its predicate
 * compiled in a long-lived EState.  The outbox and its indexes are
 * locked once per transaction, as nextval locks a sequence: with the
 * transaction's own resource owner, so that the lock outlives a
 * subtransaction, and opened without a lock for every row after that.
 *
 * What the table's defaults and CHECK constraints would give, the code
 * gives: the id is the next value of outbox_id_seq (for many rows, the
 * values a nextval reserved: see id_block), enqueued_at and
 * next_attempt_at are the transaction's start (now()), attempts 0, state
 * 'pending', maybe_sent false, op 'upsert' or 'delete'.  A column the
 * code does not know must be nullable and without a default.  Such a row
 * is fresh (pending, next_attempt_at = enqueued_at): of the extension's
 * indexes only outbox_fresh, on the id, takes it (webflow--1.0--1.1.sql).
 * There the id is the highest yet, so the entry goes at the right end.
 *
 * No SQL runs and no function a role could have written is called:
 * nextval skips the privilege check (the caller is the trigger, which the
 * writer could not call by hand), and the only expressions evaluated are
 * the predicates of the outbox's own indexes.  So the writer needs no
 * rights on the webflow schema and no switch of user is needed.  Triggers,
 * rules and policies on webflow.outbox, which the extension does not
 * create, are not applied to these rows.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_sequence.h"
#include "commands/sequence.h"
#include "executor/executor.h"
#include "nodes/execnodes.h"
#include "optimizer/optimizer.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "outbox_pack.h"
#include "outbox_write.h"

/* The columns of webflow.outbox the code fills in. */
enum OutboxColumn
{
	COL_ID,
	COL_BINDING_ID,
	COL_OP,
	COL_ROW_KEY,
	COL_ROW_IMAGE,
	COL_ENQUEUED_AT,
	COL_ATTEMPTS,
	COL_NEXT_ATTEMPT_AT,
	COL_STATE,
	COL_MAYBE_SENT,
	NUM_COLS
};

static const char *const column_names[NUM_COLS] = {
	"id", "binding_id", "op", "row_key", "row_image", "enqueued_at",
	"attempts", "next_attempt_at", "state", "maybe_sent"
};

/* One index of webflow.outbox, as ExecInsertIndexTuples needs it. */
typedef struct OutboxIndex
{
	Oid			indexoid;
	IndexInfo  *info;
	ExprState  *predicate;		/* NULL unless partial */
	IndexUniqueCheck check;
	bool		per_xact;		/* the predicate reads no column rows differ in */
	LocalTransactionId known_lxid;	/* the transaction known_value is for */
	bool		known_value;
} OutboxIndex;

/* What writing a row needs, once per session (until invalidated). */
typedef struct OutboxWriter
{
	bool		valid;
	Oid			relid;
	Oid			seqid;
	MemoryContext context;
	EState	   *estate;
	TupleDesc	desc;
	TupleTableSlot *slot;
	AttrNumber	attnums[NUM_COLS];
	int			nindexes;
	OutboxIndex *indexes;
	Datum		op_upsert;
	Datum		op_delete;
	Datum		state_pending;
	Datum	   *values;			/* a row's values, natts of them */
	bool	   *nulls;
	TupleTableSlot **slots;		/* for many rows at once, made when needed */
	LocalTransactionId locked_lxid; /* transaction that holds our locks */
} OutboxWriter;

static OutboxWriter writer;
static bool writing = false;	/* a write is under way (see webflow_outbox_refuse_nested) */
static bool callback_registered = false;
static uint32 invalidations = 0;	/* counts invalidations of the outbox */

static void invalidate_writer(Datum arg, Oid relid);
static void free_writer(void);
static void setup_writer(void);
static void setup_columns(Relation rel);
static void setup_indexes(Relation rel);
static bool predicate_per_xact(List *predicate);
static bool predicate_holds(OutboxIndex *ix, ExprContext *econtext);
static bool takes_none(OutboxIndex *ix);
static void insert_index_entries(Relation rel, TupleTableSlot **slots, int nslots);
static Relation open_outbox(void);
static HeapTuple form_row(int64 id, int32 binding_id, bool upsert,
						  Datum row_key, Jsonb *image);
static int64 id_block(int64 value);
static void assign_ids(int64 *ids, int n);
static TupleTableSlot **batch_slots(void);
static void write_rows(WebflowOutboxRow *rows, int nrows);

/* invalidate_writer forgets the writer when the outbox or an index changes. */
static void
invalidate_writer(Datum arg, Oid relid)
{
	bool		ours = (relid == InvalidOid || relid == writer.relid);
	int			i;

	for (i = 0; !ours && i < writer.nindexes; i++)
		ours = (writer.indexes[i].indexoid == relid);
	if (ours)
	{
		invalidations++;
		writer.valid = false;
	}
}

/* free_writer releases what an invalidated writer held. */
static void
free_writer(void)
{
	int			i;

	if (writer.slot != NULL)
		ExecDropSingleTupleTableSlot(writer.slot);
	for (i = 0; writer.slots != NULL && i < WEBFLOW_OUTBOX_MAX_ROWS; i++)
		ExecDropSingleTupleTableSlot(writer.slots[i]);
	if (writer.estate != NULL)
		FreeExecutorState(writer.estate);
	if (writer.context != NULL)
		MemoryContextDelete(writer.context);
	memset(&writer, 0, sizeof(writer));
}

/*
 * setup_columns finds the places of the outbox's columns and refuses a
 * column that would need a value the code does not give.
 */
static void
setup_columns(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;
	int			c;

	for (c = 0; c < NUM_COLS; c++)
		writer.attnums[c] = InvalidAttrNumber;
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
			continue;
		for (c = 0; c < NUM_COLS; c++)
			if (strcmp(NameStr(att->attname), column_names[c]) == 0)
				break;
		if (c < NUM_COLS)
			writer.attnums[c] = att->attnum;
		else if (att->attnotnull || att->atthasdef || att->attgenerated)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("column \"%s\" of webflow.outbox is not known to the publish trigger",
							NameStr(att->attname)),
					 errhint("Update the extension's library and SQL together (ALTER EXTENSION webflow UPDATE).")));
	}
	for (c = 0; c < NUM_COLS; c++)
		if (writer.attnums[c] == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("webflow.outbox has no column \"%s\"", column_names[c]),
					 errhint("Update the extension's library and SQL together (ALTER EXTENSION webflow UPDATE).")));
}

/*
 * setup_indexes builds the IndexInfo of each index of the outbox, with its
 * predicate compiled in the writer's EState (as ExecOpenIndices and
 * ExecInsertIndexTuples would for every statement).
 */
static void
setup_indexes(Relation rel)
{
	List	   *indexoids = RelationGetIndexList(rel);
	ListCell   *lc;
	int			n = 0;

	writer.indexes = palloc0(sizeof(OutboxIndex) * Max(list_length(indexoids), 1));
	foreach(lc, indexoids)
	{
		Relation	irel = index_open(lfirst_oid(lc), RowExclusiveLock);
		OutboxIndex *ix = &writer.indexes[n++];

		ix->indexoid = lfirst_oid(lc);
		ix->info = BuildIndexInfo(irel);
		if (ix->info->ii_ExclusionOps != NULL ||
			(irel->rd_index->indisunique && !irel->rd_index->indimmediate))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("index \"%s\" of webflow.outbox is an exclusion constraint or deferrable",
							RelationGetRelationName(irel))));
		ix->check = irel->rd_index->indisunique ? UNIQUE_CHECK_YES : UNIQUE_CHECK_NO;
		if (ix->info->ii_Predicate != NIL)
		{
			ix->predicate = ExecPrepareQual(ix->info->ii_Predicate, writer.estate);
			ix->per_xact = predicate_per_xact(ix->info->ii_Predicate);
			ix->known_lxid = InvalidLocalTransactionId;
		}
		index_close(irel, NoLock);
	}
	writer.nindexes = n;
	list_free(indexoids);
}

/*
 * predicate_per_xact says whether a partial index's predicate reads only
 * columns that every row written in one transaction has alike (state,
 * attempts, the two times, maybe_sent, and the columns left NULL): not
 * id, binding_id, op, row_key, row_image, a system column or the whole
 * row.  Such a predicate (immutable, as PostgreSQL requires) has one
 * value per transaction.  (Called after setup_columns.)
 */
static bool
predicate_per_xact(List *predicate)
{
	static const int varying[] = {COL_ID, COL_BINDING_ID, COL_OP, COL_ROW_KEY, COL_ROW_IMAGE};
	Bitmapset  *attrs = NULL;
	int			x = -1;

	pull_varattnos((Node *) predicate, 1, &attrs);
	while ((x = bms_next_member(attrs, x)) >= 0)
	{
		AttrNumber	attnum = x + FirstLowInvalidHeapAttributeNumber;
		int			i;

		if (attnum <= 0)
			return false;
		for (i = 0; i < lengthof(varying); i++)
			if (writer.attnums[varying[i]] == attnum)
				return false;
	}
	return true;
}

/* setup_writer works out what writing a row needs, once per session. */
static void
setup_writer(void)
{
	Oid			nsp = get_namespace_oid("webflow", false);
	Relation	rel;
	MemoryContext oldcontext;
	uint32		seen;

	free_writer();
	if (!callback_registered)
	{
		CacheRegisterRelcacheCallback(invalidate_writer, (Datum) 0);
		callback_registered = true;
	}
	writer.relid = get_relname_relid("outbox", nsp);
	writer.seqid = get_relname_relid("outbox_id_seq", nsp);
	if (!OidIsValid(writer.relid) || !OidIsValid(writer.seqid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table webflow.outbox or its sequence outbox_id_seq does not exist"),
				 errhint("Create the extension with CREATE EXTENSION webflow.")));
	writer.context = AllocSetContextCreate(TopMemoryContext, "webflow outbox writer",
										   ALLOCSET_SMALL_SIZES);
	oldcontext = MemoryContextSwitchTo(writer.context);
	rel = table_open(writer.relid, RowExclusiveLock);
	/* the lock is held: what changes now is seen as an invalidation */
	seen = invalidations;
	if (rel->rd_rel->relkind != RELKIND_RELATION)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("webflow.outbox is not a table")));
	setup_columns(rel);
	writer.desc = CreateTupleDescCopy(RelationGetDescr(rel));
	writer.slot = MakeSingleTupleTableSlot(writer.desc, &TTSOpsHeapTuple);
	writer.estate = CreateExecutorState();
	setup_indexes(rel);
	writer.op_upsert = CStringGetTextDatum("upsert");
	writer.op_delete = CStringGetTextDatum("delete");
	writer.state_pending = CStringGetTextDatum("pending");
	writer.values = palloc(sizeof(Datum) * writer.desc->natts);
	writer.nulls = palloc(sizeof(bool) * writer.desc->natts);
	writer.locked_lxid = InvalidLocalTransactionId;
	table_close(rel, NoLock);
	MemoryContextSwitchTo(oldcontext);
	/* good for this row in any case (the lock is held), later if unchanged */
	writer.valid = (seen == invalidations);
}

/*
 * predicate_holds says whether the row in econtext's scan tuple goes into
 * a partial index: evaluated for every row, or once per transaction when
 * the predicate reads only columns the rows of a transaction share.
 */
static bool
predicate_holds(OutboxIndex *ix, ExprContext *econtext)
{
	LocalTransactionId lxid = CURRENT_LXID;

	if (ix->per_xact && ix->known_lxid == lxid)
		return ix->known_value;
	ix->known_value = ExecQual(ix->predicate, econtext);
	ix->known_lxid = lxid;
	return ix->known_value;
}

/*
 * takes_none says whether an index is known to take no row of this
 * transaction: a partial index whose predicate, of one value per
 * transaction, was false.  (The outbox's other indexes, for every row the
 * trigger writes: it need not even be opened.)
 */
static bool
takes_none(OutboxIndex *ix)
{
	return ix->per_xact && ix->known_lxid == CURRENT_LXID && !ix->known_value;
}

/*
 * insert_index_entries makes the index entries of the tuples in slots, as
 * ExecInsertIndexTuples does: partial indexes only when the predicate
 * holds, unique indexes checked at once.  Each index is opened once.
 */
static void
insert_index_entries(Relation rel, TupleTableSlot **slots, int nslots)
{
	ExprContext *econtext = GetPerTupleExprContext(writer.estate);
	Datum		values[INDEX_MAX_KEYS];
	bool		isnull[INDEX_MAX_KEYS];
	int			i;
	int			s;

	for (i = 0; i < writer.nindexes; i++)
	{
		OutboxIndex *ix = &writer.indexes[i];
		Relation	irel;

		if (!ix->info->ii_ReadyForInserts || takes_none(ix))
			continue;
		irel = index_open(ix->indexoid, NoLock);	/* open_outbox locked it */
		for (s = 0; s < nslots; s++)
		{
			econtext->ecxt_scantuple = slots[s];
			if (ix->predicate == NULL || predicate_holds(ix, econtext))
			{
				FormIndexDatum(ix->info, slots[s], writer.estate, values, isnull);
				webflow_index_insert(irel, values, isnull, &slots[s]->tts_tid, rel,
									 ix->check, ix->info);
			}
			ResetExprContext(econtext);
		}
		webflow_index_insert_cleanup(irel, ix->info);
		index_close(irel, NoLock);
	}
	econtext->ecxt_scantuple = NULL;
}

/*
 * open_outbox opens webflow.outbox for a row, with the writer set up for
 * it: the first time in a transaction it takes RowExclusiveLock on the
 * table and its indexes for the whole transaction (as lock_and_open_sequence
 * does for a sequence), after that it opens the table without a lock.
 */
static Relation
open_outbox(void)
{
	LocalTransactionId lxid = CURRENT_LXID;

	if (!writer.valid)
		setup_writer();
	while (writer.locked_lxid != lxid)
	{
		ResourceOwner owner = CurrentResourceOwner;
		int			i;

		CurrentResourceOwner = TopTransactionResourceOwner;
		PG_TRY();
		{
			LockRelationOid(writer.relid, RowExclusiveLock);
			/* the lock may have brought news of a change: set up again */
			if (!writer.valid)
				setup_writer();
			for (i = 0; i < writer.nindexes; i++)
				LockRelationOid(writer.indexes[i].indexoid, RowExclusiveLock);
		}
		PG_FINALLY();
		{
			CurrentResourceOwner = owner;
		}
		PG_END_TRY();
		/* an index that came with a change is locked on the next turn */
		if (writer.valid)
			writer.locked_lxid = lxid;
	}
	return table_open(writer.relid, NoLock);
}

/*
 * form_row makes the tuple of one pending outbox row: an upsert with its
 * row image, or a delete (no image).  It is made in the writer's context,
 * to be stored in a slot that owns it: the insert then takes it as it is
 * (a slot that does not own its tuple is given a copy), and after an
 * error the slot frees it when it is used next.
 */
static HeapTuple
form_row(int64 id, int32 binding_id, bool upsert, Datum row_key, Jsonb *image)
{
	Datum	   *values = writer.values;
	bool	   *nulls = writer.nulls;
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	MemoryContext oldcontext;
	HeapTuple	tuple;

	memset(nulls, true, sizeof(bool) * writer.desc->natts);
#define SET(col, datum) \
	(values[writer.attnums[col] - 1] = (datum), nulls[writer.attnums[col] - 1] = false)
	SET(COL_ID, Int64GetDatum(id));
	SET(COL_BINDING_ID, Int32GetDatum(binding_id));
	SET(COL_OP, upsert ? writer.op_upsert : writer.op_delete);
	SET(COL_ROW_KEY, row_key);
	if (upsert && image != NULL)
		SET(COL_ROW_IMAGE, JsonbPGetDatum(image));
	SET(COL_ENQUEUED_AT, TimestampTzGetDatum(now));
	SET(COL_ATTEMPTS, Int32GetDatum(0));
	SET(COL_NEXT_ATTEMPT_AT, TimestampTzGetDatum(now));
	SET(COL_STATE, writer.state_pending);
	SET(COL_MAYBE_SENT, BoolGetDatum(false));
#undef SET
	oldcontext = MemoryContextSwitchTo(writer.context);
	tuple = heap_form_tuple(writer.desc, values, nulls);
	MemoryContextSwitchTo(oldcontext);
	return tuple;
}

/*
 * webflow_outbox_refuse_nested refuses a write while one is under way: only an index
 * expression of the outbox (which a superuser may add) runs code while
 * the outbox is written, and a write from it would reuse the writer's
 * slots under the write that called it.
 */
void
webflow_outbox_refuse_nested(void)
{
	if (writing)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("webflow.outbox is being written"),
				 errdetail("An expression of an index of webflow.outbox wrote to a table that the publish trigger watches."),
				 errhint("The outbox's indexes are the extension's: drop the index.")));
}

/* webflow_outbox_writing says whether a write is under way. */
bool
webflow_outbox_writing(void)
{
	return writing;
}

/*
 * id_block says how many ids up to value a nextval of outbox_id_seq that
 * returned value has reserved: those above the value the nextval before
 * it returned, value - increment (1024 from version 1.1 on), which no
 * nextval hands out, whatever increment later ones use; not below the
 * sequence's minimum (its first value reserves itself only); one for a
 * sequence that counts down or cycles.  (Read after nextval, which locks
 * the sequence until the transaction ends: ALTER SEQUENCE waits for that
 * lock, so nextval used this increment.)
 */
static int64
id_block(int64 value)
{
	HeapTuple	tup = SearchSysCache1(SEQRELID, ObjectIdGetDatum(writer.seqid));
	Form_pg_sequence seq;
	int64		block = 1;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for sequence %u", writer.seqid);
	seq = (Form_pg_sequence) GETSTRUCT(tup);
	if (seq->seqincrement > 1 && !seq->seqcycle && value >= seq->seqmin)
		block = Min(seq->seqincrement, value - seq->seqmin + 1);
	ReleaseSysCache(tup);
	return block;
}

/*
 * assign_ids gives n rows rising ids, as few nextval calls as blocks
 * allow: of each block, the highest ids, ending with the value nextval
 * returned.
 */
static void
assign_ids(int64 *ids, int n)
{
	int			i = 0;

	while (i < n)
	{
		int64		value = nextval_internal(writer.seqid, false);
		int64		take = (n - i == 1) ? 1 : Min(id_block(value), n - i);
		int64		k;

		for (k = take - 1; k >= 0; k--)
			ids[i++] = value - k;
	}
}

/* batch_slots returns the writer's slots for many rows, made once. */
static TupleTableSlot **
batch_slots(void)
{
	MemoryContext oldcontext;
	int			i;

	if (writer.slots != NULL)
		return writer.slots;
	oldcontext = MemoryContextSwitchTo(writer.context);
	writer.slots = palloc(sizeof(TupleTableSlot *) * WEBFLOW_OUTBOX_MAX_ROWS);
	for (i = 0; i < WEBFLOW_OUTBOX_MAX_ROWS; i++)
		writer.slots[i] = MakeSingleTupleTableSlot(writer.desc, &TTSOpsHeapTuple);
	MemoryContextSwitchTo(oldcontext);
	return writer.slots;
}

/*
 * webflow_outbox_write_rows inserts rows (at most WEBFLOW_OUTBOX_MAX_ROWS)
 * in their order: one with table_tuple_insert, more with one
 * table_multi_insert (a WAL record and a buffer lock per page, not per
 * row) and their ids from as few nextval calls as the sequence allows.
 * Their ids are taken now: callers write rows only after the changes
 * they come from are made (see outbox_batch.c).
 */
void
webflow_outbox_write_rows(WebflowOutboxRow *rows, int nrows)
{
	webflow_outbox_refuse_nested();
	writing = true;
	PG_TRY();
	{
		write_rows(rows, nrows);
	}
	PG_FINALLY();
	{
		writing = false;
	}
	PG_END_TRY();
}

/* write_rows is webflow_outbox_write_rows's insert. */
static void
write_rows(WebflowOutboxRow *rows, int nrows)
{
	Relation	rel = open_outbox();
	TupleTableSlot **slots = (nrows == 1) ? &writer.slot : batch_slots();
	CommandId	cid = GetCurrentCommandId(true);
	int64		ids[WEBFLOW_OUTBOX_MAX_ROWS];
	int			i;

	Assert(nrows > 0 && nrows <= WEBFLOW_OUTBOX_MAX_ROWS);
	assign_ids(ids, nrows);
	if (nrows >= WEBFLOW_OUTBOX_PACK_MIN && webflow_outbox_pack(writer.relid, rows, ids, nrows))
	{
		table_close(rel, NoLock);
		return;
	}
	for (i = 0; i < nrows; i++)
		ExecStoreHeapTuple(form_row(ids[i], rows[i].binding_id, rows[i].upsert,
									PointerGetDatum(rows[i].row_key), rows[i].image),
						   slots[i], true);
	if (nrows == 1)
		table_tuple_insert(rel, slots[0], cid, 0, NULL);
	else
		table_multi_insert(rel, slots, nrows, cid, 0, NULL);
	insert_index_entries(rel, slots, nrows);
	for (i = 0; i < nrows; i++)
		ExecClearTuple(slots[i]);
	table_close(rel, NoLock);
}
