/*-------------------------------------------------------------------------
 *
 * outbox_pack.c
 *		Many changes of one statement written as one row of
 *		webflow.outbox_packed per binding, instead of a row and an index
 *		entry each in webflow.outbox; the pass unpacks them into the outbox
 *		before it claims (drain.c).
 *
 * A bulk statement's outbox rows cost the writer as much as its own rows:
 * a heap tuple and a btree entry (outbox_fresh) each, the entry with a WAL
 * record of its own.  A packed row holds the changes as arrays (ids,
 * upsert flags, row keys, row images), stored out of line without
 * compression (their columns' storage is EXTERNAL); the table has no
 * index, so the writer pays a copy of each change and the TOAST chunks.
 *
 * What must hold, with the pass's side (drain.c):
 * - Order: the changes keep the ids outbox_write.c gave them, in the
 *   order of the rows; unpacking inserts them with those ids.  A claim
 *   takes no fresh row newer than the oldest change of its collection
 *   still packed (the claim reads both in one snapshot; the item map
 *   knows rows by collection and key), so a key's packed older change is
 *   never overtaken.
 * - Nothing lost: a packed row is a change of the outbox like any other,
 *   written in the writer's transaction and only if it commits; the pass
 *   deletes it and inserts its changes in one statement.
 * - The writer's rights: as in outbox_write.c, no SQL runs and no function
 *   a role could have written is called.  A table with an index (which
 *   the extension does not make) is not packed into: the rows go to the
 *   outbox as before.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "outbox_pack.h"

/* The columns of webflow.outbox_packed, in the order the 1.1 SQL makes them. */
enum PackedColumn
{
	PCOL_BINDING_ID,
	PCOL_FIRST_ID,
	PCOL_IDS,
	PCOL_UPSERTS,
	PCOL_ROW_KEYS,
	PCOL_ROW_IMAGES,
	PCOL_ENQUEUED_AT,
	NUM_PCOLS
};

static const char *const packed_column_names[NUM_PCOLS] = {
	"binding_id", "first_id", "ids", "upserts", "row_keys", "row_images", "enqueued_at"
};
static const Oid packed_column_types[NUM_PCOLS] = {
	INT4OID, INT8OID, INT8ARRAYOID, BOOLARRAYOID, TEXTARRAYOID, JSONBARRAYOID, TIMESTAMPTZOID
};

static Oid	packed_relid(Oid outbox_relid);
static bool packable(Relation rel, AttrNumber *attnums);
static ArrayType *make_array(Datum *elems, bool *nulls, int n, Oid elmtype);
static void pack_binding(Relation rel, const AttrNumber *attnums, WebflowOutboxRow *rows,
						 const int64 *ids, int nrows, int32 binding_id);

/* packed_relid is the oid of outbox_packed beside the outbox, or InvalidOid. */
static Oid
packed_relid(Oid outbox_relid)
{
	Oid			nsp = get_rel_namespace(outbox_relid);

	if (!OidIsValid(nsp))
		return InvalidOid;
	return get_relname_relid("outbox_packed", nsp);
}

/*
 * packable says whether rel is the table the 1.1 SQL made: its columns, of
 * their types, in their order (and no others but dropped ones, whose
 * places it skips), and no index; attnums gets each column's number.
 */
static bool
packable(Relation rel, AttrNumber *attnums)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			live = 0;
	int			i;

	if (rel->rd_rel->relkind != RELKIND_RELATION || RelationGetIndexList(rel) != NIL)
		return false;
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
			continue;
		if (live >= NUM_PCOLS || att->atttypid != packed_column_types[live]
			|| strcmp(NameStr(att->attname), packed_column_names[live]) != 0)
			return false;
		attnums[live++] = att->attnum;
	}
	return live == NUM_PCOLS;
}

/* make_array makes a one-dimensional array of n elements of elmtype. */
static ArrayType *
make_array(Datum *elems, bool *nulls, int n, Oid elmtype)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;
	int			dims[1] = {n};
	int			lbs[1] = {1};

	get_typlenbyvalalign(elmtype, &typlen, &typbyval, &typalign);
	return construct_md_array(elems, nulls, 1, dims, lbs, elmtype, typlen, typbyval, typalign);
}

/* pack_binding inserts the packed row of one binding's rows among rows. */
static void
pack_binding(Relation rel, const AttrNumber *attnums, WebflowOutboxRow *rows,
			 const int64 *ids, int nrows, int32 binding_id)
{
	Datum	   *id_elems = palloc(sizeof(Datum) * nrows);
	Datum	   *upsert_elems = palloc(sizeof(Datum) * nrows);
	Datum	   *key_elems = palloc(sizeof(Datum) * nrows);
	Datum	   *image_elems = palloc(sizeof(Datum) * nrows);
	bool	   *image_nulls = palloc(sizeof(bool) * nrows);
	TupleDesc	desc = RelationGetDescr(rel);
	Datum	   *values = palloc0(sizeof(Datum) * desc->natts);
	bool	   *nulls = palloc(sizeof(bool) * desc->natts);
	HeapTuple	tuple;
	int			n = 0;
	int			i;

	for (i = 0; i < nrows; i++)
	{
		if (rows[i].binding_id != binding_id)
			continue;
		id_elems[n] = Int64GetDatum(ids[i]);
		upsert_elems[n] = BoolGetDatum(rows[i].upsert);
		key_elems[n] = PointerGetDatum(rows[i].row_key);
		image_nulls[n] = !rows[i].upsert || rows[i].image == NULL;
		image_elems[n] = image_nulls[n] ? (Datum) 0 : JsonbPGetDatum(rows[i].image);
		n++;
	}
	/* (the places of dropped columns stay null) */
	memset(nulls, true, sizeof(bool) * desc->natts);
#define SET(col, datum) \
	(values[attnums[col] - 1] = (datum), nulls[attnums[col] - 1] = false)
	SET(PCOL_BINDING_ID, Int32GetDatum(binding_id));
	SET(PCOL_FIRST_ID, id_elems[0]);
	SET(PCOL_IDS, PointerGetDatum(make_array(id_elems, NULL, n, INT8OID)));
	SET(PCOL_UPSERTS, PointerGetDatum(make_array(upsert_elems, NULL, n, BOOLOID)));
	SET(PCOL_ROW_KEYS, PointerGetDatum(make_array(key_elems, NULL, n, TEXTOID)));
	SET(PCOL_ROW_IMAGES, PointerGetDatum(make_array(image_elems, image_nulls, n, JSONBOID)));
	SET(PCOL_ENQUEUED_AT, TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()));
#undef SET
	tuple = heap_form_tuple(desc, values, nulls);
	simple_heap_insert(rel, tuple);
}

/*
 * webflow_outbox_pack writes rows, with their ids, as packed rows (one per
 * binding, the rows of each in their order) and returns true; or returns
 * false, writing nothing, when there is no packed table to write to.
 */
bool
webflow_outbox_pack(Oid outbox_relid, WebflowOutboxRow *rows, const int64 *ids, int nrows)
{
	Oid			relid = packed_relid(outbox_relid);
	AttrNumber	attnums[NUM_PCOLS];
	Relation	rel;
	MemoryContext cxt;
	MemoryContext old;
	int			i;

	if (!OidIsValid(relid))
		return false;
	rel = table_open(relid, RowExclusiveLock);
	if (!packable(rel, attnums))
	{
		table_close(rel, NoLock);
		return false;
	}
	cxt = AllocSetContextCreate(CurrentMemoryContext, "webflow outbox pack", ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(cxt);
	for (i = 0; i < nrows; i++)
	{
		int			j;

		/* each binding once, at its first row */
		for (j = 0; j < i && rows[j].binding_id != rows[i].binding_id; j++)
			;
		if (j == i)
			pack_binding(rel, attnums, rows + i, ids + i, nrows - i, rows[i].binding_id);
	}
	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
	table_close(rel, NoLock);
	return true;
}
