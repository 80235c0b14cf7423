/*-------------------------------------------------------------------------
 *
 * outbox.c
 *		webflow.publish_trigger(): the AFTER ROW trigger that puts every
 *		change of a bound table into webflow.outbox, inside the user's
 *		transaction, and wakes the worker when that transaction commits.
 *
 * The trigger's arguments are the collection id and, optionally, the
 * binding options as JSON.  Per trigger and session it works out once
 * which columns identify the row (options "key", else the primary key),
 * which columns matter (all but those excluded or mapped to null), the
 * binding's id in webflow.bindings (registering it, as the outbox's owner,
 * when the trigger was created by hand).  A row then costs its image
 * (row_image.c: to_jsonb, with the columns' conversions worked out once)
 * and one outbox row written in C (outbox_write.c: no SQL, no executor),
 * with the statement's other rows when its triggers are done
 * (outbox_batch.c: one multi-insert, ids in blocks);
 * an UPDATE that changes no column that matters costs nothing more than
 * the comparison.
 *
 * The row image (to_jsonb of the row) and its key are computed as the
 * writer: casts and output functions of the row's types are the writer's
 * business and run with the writer's rights.  The outbox row is then
 * written without any SQL and without privilege checks, so a user who may
 * write the table needs no rights on the webflow schema, and no code a
 * role could have written runs while it is written.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "nodes/bitmapset.h"
#include "nodes/makefuncs.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/relcache.h"
#include "utils/syscache.h"

#include "compat.h"
#include "jsonb_util.h"
#include "outbox_batch.h"
#include "row_image.h"
#include "row_key.h"
#include "run_as.h"
#include "shmem.h"
#include "sql_version.h"
#include "value_parse.h"
#include "wake.h"
#include "webflow.h"

PG_FUNCTION_INFO_V1(webflow_publish_trigger);

/* What a trigger needs to enqueue a row, per trigger and session. */
typedef struct TriggerState
{
	Oid			tgoid;			/* hash key */
	bool		valid;
	Oid			relid;
	int32		binding_id;
	int			nkeys;
	AttrNumber *key_attnums;
	Datum		key_names;		/* text[] of the key columns */
	Datum	   *key_name_datums;	/* the same, as text datums */
	Oid			key_basetype;	/* of a key its value gives (row_key.c), or
								 * InvalidOid: the key comes from the image */
	Bitmapset  *compare;		/* attnums whose change matters */
	Bitmapset  *keyset;			/* attnums of the key */
	WebflowRowImage *image;		/* to_jsonb() of the table's rows */
	LocalTransactionId built_lxid;	/* the transaction that built it, until
									 * it commits */
	SubTransactionId built_subxid;	/* and its subtransaction */
} TriggerState;

static HTAB *trigger_states = NULL;
static TriggerState *last_state = NULL;	/* the one get_state found last */
static MemoryContext trigger_context = NULL;
static int	states_built_open = 0;	/* states whose transaction is open */

static void invalidate_states(Datum arg, Oid relid);
static void forget_built(bool aborted, SubTransactionId subid,
						 SubTransactionId parent);
static void states_xact_callback(XactEvent event, void *arg);
static void states_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
									SubTransactionId parentSubid, void *arg);
static TriggerState *get_state(TriggerData *trigdata);
static void build_state(TriggerState *st, TriggerData *trigdata);
static AttrNumber flag_attnum(Relation rel, Jsonb *options, const char *option);
static Bitmapset *columns_compared(Relation rel, Jsonb *options);
static void parse_options(TriggerState *st, Relation rel, Jsonb *options);
static void check_options(Jsonb *options);
static AttrNumber column_attnum(Relation rel, const char *column, const char *what);
static Oid	binding_relid(Relation rel);
static int32 register_binding(TriggerState *st, Relation rel,
							  const char *collection, const char *options);
static void enqueue(TriggerState *st, Relation rel, HeapTuple tuple, bool upsert);
static char *row_key(TriggerState *st, TupleDesc desc, HeapTuple tuple, Jsonb **image);
static bool superseded(HeapTuple tuple);
static void enqueue_latest(TriggerState *st, Relation rel, HeapTuple tuple);
static void enqueue_upsert(TriggerState *st, Relation rel, HeapTuple tuple);
static bool tuples_differ(Bitmapset *attrs, TupleDesc desc, HeapTuple a, HeapTuple b);
static bool keys_differ(TriggerState *st, TupleDesc desc, HeapTuple a, HeapTuple b);

/* invalidate_states forgets what we know about a relation that changed. */
static void
invalidate_states(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS seq;
	TriggerState *st;

	if (trigger_states == NULL)
		return;
	hash_seq_init(&seq, trigger_states);
	while ((st = hash_seq_search(&seq)) != NULL)
	{
		if (relid == InvalidOid || st->relid == relid)
			st->valid = false;
	}
}

/*
 * forget_built forgets a state built in a (sub)transaction that aborts:
 * the binding it found or registered there may be gone with it (a
 * trigger made by hand registers its binding with its first row).  A
 * state whose transaction commits is kept; one whose subtransaction
 * commits now belongs to the parent.  subid InvalidSubTransactionId means
 * the whole transaction.
 */
static void
forget_built(bool aborted, SubTransactionId subid, SubTransactionId parent)
{
	HASH_SEQ_STATUS seq;
	TriggerState *st;
	LocalTransactionId lxid = CURRENT_LXID;

	if (states_built_open == 0)
		return;
	hash_seq_init(&seq, trigger_states);
	while ((st = hash_seq_search(&seq)) != NULL)
	{
		/* (at the end of a transaction every marked state is of it) */
		if (st->built_lxid == InvalidLocalTransactionId ||
			(subid != InvalidSubTransactionId &&
			 (st->built_lxid != lxid || st->built_subxid < subid)))
			continue;
		if (subid != InvalidSubTransactionId && !aborted)
		{
			st->built_subxid = parent;
			continue;
		}
		if (aborted)
			st->valid = false;
		st->built_lxid = InvalidLocalTransactionId;
		states_built_open--;
	}
}

/* states_xact_callback keeps or forgets states built in the transaction. */
static void
states_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_PREPARE ||
		event == XACT_EVENT_PARALLEL_COMMIT)
		forget_built(false, InvalidSubTransactionId, InvalidSubTransactionId);
	else if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		forget_built(true, InvalidSubTransactionId, InvalidSubTransactionId);
}

/* states_subxact_callback does the same for a subtransaction. */
static void
states_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_COMMIT_SUB)
		forget_built(false, mySubid, parentSubid);
	else if (event == SUBXACT_EVENT_ABORT_SUB)
		forget_built(true, mySubid, parentSubid);
}

/*
 * column_attnum returns the attribute number of a column of rel, or raises
 * an error naming the option it came from.
 */
static AttrNumber
column_attnum(Relation rel, const char *column, const char *what)
{
	AttrNumber	attnum = get_attnum(RelationGetRelid(rel), column);

	if (attnum == InvalidAttrNumber || attnum < 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("%s column \"%s\" does not exist in table %s",
						what, column, RelationGetRelationName(rel)),
				 errhint("Check the binding options of webflow.publish_trigger on %s.",
						 RelationGetRelationName(rel))));
	return attnum;
}

/*
 * flag_attnum is the column a "draft" or "archived" option names (0 when
 * the option is a constant, or absent): item_payload reads it even when
 * "exclude" or a null "fields" entry leaves it out of the item.
 */
static AttrNumber
flag_attnum(Relation rel, Jsonb *options, const char *option)
{
	JsonbValue *v = webflow_jsonb_get(options, option);
	AttrNumber	attnum;

	if (v == NULL || v->type != jbvString)
		return 0;
	attnum = get_attnum(RelationGetRelid(rel), webflow_jsonb_string(v));
	return attnum > 0 ? attnum : 0;
}

/*
 * columns_compared is the set of columns whose change is a change of the
 * item: all but those excluded or mapped to null (the key columns are
 * added by the caller).
 */
static Bitmapset *
columns_compared(Relation rel, Jsonb *options)
{
	TupleDesc	desc = RelationGetDescr(rel);
	JsonbValue *exclude = webflow_jsonb_get(options, "exclude");
	JsonbValue *fields = webflow_jsonb_get(options, "fields");
	Bitmapset  *skip = NULL;
	Bitmapset  *compare = NULL;
	int			i;

	/* columns that do not reach the item do not count as changes */
	for (i = 0; exclude != NULL && i < webflow_jsonb_array_size(exclude); i++)
	{
		char	   *col = webflow_jsonb_string(webflow_jsonb_array_element(exclude, i));
		AttrNumber	attnum = col ? get_attnum(RelationGetRelid(rel), col) : InvalidAttrNumber;

		if (attnum > 0)
			skip = bms_add_member(skip, attnum);
	}
	if (fields != NULL && webflow_jsonb_is_object(fields))
	{
		JsonbIterator *it = JsonbIteratorInit(fields->val.binary.data);
		JsonbValue	v;
		JsonbIteratorToken tok;
		char	   *col = NULL;

		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			if (tok == WJB_KEY)
				col = pnstrdup(v.val.string.val, v.val.string.len);
			else if (tok == WJB_VALUE && v.type == jbvNull)
			{
				AttrNumber	attnum = get_attnum(RelationGetRelid(rel), col);

				if (attnum > 0)
					skip = bms_add_member(skip, attnum);
			}
		}
	}
	/* the draft and archived columns reach the item even when excluded */
	skip = bms_del_member(skip, flag_attnum(rel, options, "draft"));
	skip = bms_del_member(skip, flag_attnum(rel, options, "archived"));
	for (i = 0; i < desc->natts; i++)
	{
		if (TupleDescAttr(desc, i)->attisdropped || bms_is_member(i + 1, skip))
			continue;
		compare = bms_add_member(compare, i + 1);
	}
	return compare;
}

/*
 * parse_options reads the options that matter to the trigger: the key
 * columns and the columns left out of the item.
 */
static void
parse_options(TriggerState *st, Relation rel, Jsonb *options)
{
	TupleDesc	desc = RelationGetDescr(rel);
	JsonbValue *key = webflow_jsonb_get(options, "key");
	Datum	   *names;
	int			i;

	/* key: options "key" (a column or an array of columns), else the PK */
	if (key != NULL && key->type == jbvString)
	{
		st->nkeys = 1;
		st->key_attnums = palloc(sizeof(AttrNumber));
		st->key_attnums[0] = column_attnum(rel, webflow_jsonb_string(key), "key");
	}
	else if (key != NULL && webflow_jsonb_array_size(key) > 0)
	{
		st->nkeys = webflow_jsonb_array_size(key);
		st->key_attnums = palloc(sizeof(AttrNumber) * st->nkeys);
		for (i = 0; i < st->nkeys; i++)
		{
			char	   *col = webflow_jsonb_string(webflow_jsonb_array_element(key, i));

			if (col == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("option \"key\" must be a column name or an array of column names")));
			st->key_attnums[i] = column_attnum(rel, col, "key");
		}
	}
	else if (key != NULL && key->type != jbvNull)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("option \"key\" must be a column name or an array of column names")));
	else
	{
		Oid			pkindex;
		HeapTuple	indtup;
		Form_pg_index ind;

		(void) RelationGetIndexList(rel);
		pkindex = rel->rd_pkindex;
		if (!OidIsValid(pkindex))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
					 errmsg("table %s has no primary key to identify its rows in Webflow",
							RelationGetRelationName(rel)),
					 errhint("Add a primary key, or name the key columns in the binding options: {\"key\": \"column\"}.")));
		indtup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(pkindex));
		if (!HeapTupleIsValid(indtup))
			elog(ERROR, "cache lookup failed for index %u", pkindex);
		ind = (Form_pg_index) GETSTRUCT(indtup);
		st->nkeys = ind->indnkeyatts;
		st->key_attnums = palloc(sizeof(AttrNumber) * st->nkeys);
		for (i = 0; i < st->nkeys; i++)
			st->key_attnums[i] = ind->indkey.values[i];
		ReleaseSysCache(indtup);
	}

	names = palloc(sizeof(Datum) * st->nkeys);
	for (i = 0; i < st->nkeys; i++)
		names[i] = CStringGetTextDatum(NameStr(TupleDescAttr(desc, st->key_attnums[i] - 1)->attname));
	st->key_name_datums = names;
	st->key_names = PointerGetDatum(construct_array(names, st->nkeys, TEXTOID,
													-1, false, TYPALIGN_INT));
	st->key_basetype = InvalidOid;
	if (st->nkeys == 1)
		st->key_basetype = webflow_row_key_type(TupleDescAttr(desc, st->key_attnums[0] - 1)->atttypid);

	st->compare = columns_compared(rel, options);
	for (i = 0; i < st->nkeys; i++)
	{
		st->compare = bms_add_member(st->compare, st->key_attnums[i]);
		st->keyset = bms_add_member(st->keyset, st->key_attnums[i]);
	}
}

/*
 * binding_relid is the table a trigger's rows are published as: the
 * relation itself, or the root of the partitioned table it belongs to.
 */
static Oid
binding_relid(Relation rel)
{
	if (rel->rd_rel->relispartition)
	{
		List	   *ancestors = get_partition_ancestors(RelationGetRelid(rel));

		if (ancestors != NIL)
			return llast_oid(ancestors);
	}
	return RelationGetRelid(rel);
}

/*
 * register_binding returns the id of the binding of (table, collection) in
 * webflow.bindings, recording it when the trigger was created by hand.
 */
static int32
register_binding(TriggerState *st, Relation rel, const char *collection,
				 const char *options)
{
	Oid			argtypes[4] = {OIDOID, TEXTOID, JSONBOID, TEXTARRAYOID};
	Datum		args[4];
	Oid			claim_types[2] = {TEXTOID, OIDOID};
	Datum		claim_args[2];
	Oid			key_types[2] = {OIDOID, TEXTARRAYOID};
	Datum		key_args[2];
	int			ret;
	bool		isnull;
	int32		id;

	/* a partition publishes as its partitioned table: one binding */
	args[0] = ObjectIdGetDatum(binding_relid(rel));
	args[1] = CStringGetTextDatum(collection);
	args[2] = DirectFunctionCall1(jsonb_in, CStringGetDatum(options));
	args[3] = st->key_names;

	ret = SPI_execute_with_args("SELECT id FROM webflow.bindings "
								"WHERE source OPERATOR(pg_catalog.=) $1::pg_catalog.regclass "
								"AND collection_id OPERATOR(pg_catalog.=) $2 "
								"AND options OPERATOR(pg_catalog.=) $3 "
								"AND key_columns OPERATOR(pg_catalog.=) $4",
								4, argtypes, args, NULL, true, 1);
	if (ret == SPI_OK_SELECT && SPI_processed == 1)
		return DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
										   SPI_tuptable->tupdesc, 1, &isnull));

	/*
	 * A trigger made by hand (or one left behind, renamed) registers a new
	 * binding only for the role the collection belongs to, as bind() would
	 * for anyone but a superuser.
	 */
	claim_args[0] = args[1];
	claim_args[1] = ObjectIdGetDatum(webflow_relation_owner(DatumGetObjectId(args[0])));
	if (webflow_sql_has_collection_owners() &&
		SPI_execute_with_args("SELECT webflow._claim_collection($1, $2, false)",
							  2, claim_types, claim_args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not claim collection %s", collection);

	/*
	 * Nor for a key whose text depends on the writing session (timestamptz,
	 * float8, ...): its upsert and its delete could get two keys, as bind()
	 * refuses (1.1's SQL, as the collection claims).
	 */
	key_args[0] = args[0];
	key_args[1] = args[3];
	if (webflow_sql_has_collection_owners() &&
		SPI_execute_with_args("SELECT webflow._check_key_types($1::pg_catalog.regclass, $2)",
							  2, key_types, key_args, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not check the key of %s", RelationGetRelationName(rel));

	/* (1.1's SQL marks the key checked: see webflow_check_altered_keys) */
	ret = SPI_execute_with_args(psprintf("INSERT INTO webflow.bindings "
										 "(source, collection_id, options, key_columns) "
										 "VALUES ($1::pg_catalog.regclass, $2, $3, $4) "
										 "ON CONFLICT (source, collection_id) DO UPDATE "
										 "SET options = EXCLUDED.options, key_columns = EXCLUDED.key_columns%s "
										 "RETURNING id",
										 webflow_sql_has_collection_owners() ? ", key_checked = true" : ""),
								4, argtypes, args, NULL, false, 1);
	if (ret != SPI_OK_INSERT_RETURNING || SPI_processed != 1)
		elog(ERROR, "could not register the binding of %s", RelationGetRelationName(rel));
	id = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0],
									 SPI_tuptable->tupdesc, 1, &isnull));
	return id;
}

/*
 * check_options refuses binding options bind() would refuse, so that a
 * trigger made by hand fails on its first row rather than in the worker.
 */
static void
check_options(Jsonb *options)
{
	static const char *const known[] = {
		"fields", "exclude", "draft", "archived", "locale", "key",
		"on_delete", "live", NULL
	};
	JsonbIterator *it = JsonbIteratorInit(&options->root);
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			depth = 0;
	JsonbValue *on_delete = webflow_jsonb_get(options, "on_delete");
	JsonbValue *live = webflow_jsonb_get(options, "live");
	JsonbValue *exclude = webflow_jsonb_get(options, "exclude");
	JsonbValue *fields = webflow_jsonb_get(options, "fields");
	char	   *od;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		int			i;

		if (tok == WJB_BEGIN_OBJECT)
			depth++;
		else if (tok == WJB_END_OBJECT)
			depth--;
		if (tok != WJB_KEY || depth != 1)
			continue;
		for (i = 0; known[i] != NULL; i++)
			if (strlen(known[i]) == v.val.string.len &&
				strncmp(known[i], v.val.string.val, v.val.string.len) == 0)
				break;
		if (known[i] == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("webflow.publish_trigger: unknown binding option \"%.*s\"",
							v.val.string.len, v.val.string.val),
					 errdetail("Options are fields, exclude, draft, archived, locale (as for webflow.item_payload), key, on_delete and live.")));
	}
	od = on_delete ? webflow_jsonb_string(on_delete) : NULL;
	if (on_delete != NULL &&
		(od == NULL || (strcmp(od, "unpublish") != 0 && strcmp(od, "unpublish_only") != 0 &&
						strcmp(od, "archive") != 0 && strcmp(od, "ignore") != 0)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("webflow.publish_trigger: option \"on_delete\" must be unpublish, unpublish_only, archive or ignore")));
	if (exclude != NULL && webflow_jsonb_array_size(exclude) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("webflow.publish_trigger: option \"exclude\" must be an array of column names")));
	if (fields != NULL && !webflow_jsonb_is_object(fields))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("webflow.publish_trigger: option \"fields\" must be an object of column names and field slugs")));
	if (live != NULL && live->type != jbvBool)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("webflow.publish_trigger: option \"live\" must be true or false")));
}

/* build_state works out everything a trigger needs, once per session. */
static void
build_state(TriggerState *st, TriggerData *trigdata)
{
	Relation	rel = trigdata->tg_relation;
	Trigger    *tg = trigdata->tg_trigger;
	const char *collection;
	const char *options_text = "{}";
	Jsonb	   *options;
	MemoryContext oldcontext;
	WebflowRunAs ra;

	if (tg->tgnargs < 1 || tg->tgnargs > 2)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("webflow.publish_trigger takes a collection id and, optionally, options as JSON"),
				 errhint("CREATE TRIGGER ... EXECUTE FUNCTION webflow.publish_trigger('<collection_id>', '{\"key\": \"id\"}'), or use webflow.bind().")));
	collection = tg->tgargs[0];
	if (!webflow_is_object_id(collection))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("webflow.publish_trigger: \"%s\" is not a Webflow collection id", collection),
				 errdetail("Webflow ids are 24 lowercase hexadecimal characters.")));
	if (tg->tgnargs == 2)
		options_text = tg->tgargs[1];
	options = webflow_jsonb_try_parse(options_text);
	if (options == NULL || !JB_ROOT_IS_OBJECT(options))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("webflow.publish_trigger: the options must be a JSON object"),
				 errdetail("Options: %s", options_text)));
	check_options(options);

	st->relid = RelationGetRelid(rel);
	st->compare = NULL;
	st->keyset = NULL;

	oldcontext = MemoryContextSwitchTo(trigger_context);
	parse_options(st, rel, options);
	st->image = webflow_row_image_prepare(RelationGetDescr(rel), trigger_context);
	MemoryContextSwitchTo(oldcontext);

	/* the binding is registered as the outbox owner (a fixed statement) */
	webflow_run_as_begin(&ra, webflow_extension_owner());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	st->binding_id = register_binding(st, rel, collection, options_text);
	SPI_finish();
	webflow_run_as_end(&ra);
	st->valid = true;
	if (st->built_lxid == InvalidLocalTransactionId)
		states_built_open++;
	st->built_lxid = CURRENT_LXID;
	st->built_subxid = GetCurrentSubTransactionId();
}

/* get_state returns the trigger's state, building it when needed. */
static TriggerState *
get_state(TriggerData *trigdata)
{
	Oid			tgoid = trigdata->tg_trigger->tgoid;
	TriggerState *st;
	bool		found;

	/* (a statement's rows fire one trigger after another: no lookup) */
	if (last_state != NULL && last_state->tgoid == tgoid && last_state->valid)
		return last_state;
	if (trigger_states == NULL)
	{
		HASHCTL		ctl;

		trigger_context = AllocSetContextCreate(TopMemoryContext,
												"webflow publish triggers",
												ALLOCSET_SMALL_SIZES);
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(TriggerState);
		ctl.hcxt = trigger_context;
		trigger_states = hash_create("webflow publish triggers", 16, &ctl,
									 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		CacheRegisterRelcacheCallback(invalidate_states, (Datum) 0);
		RegisterXactCallback(states_xact_callback, NULL);
		RegisterSubXactCallback(states_subxact_callback, NULL);
	}
	st = hash_search(trigger_states, &tgoid, HASH_ENTER, &found);
	if (!found)
	{
		memset(((char *) st) + sizeof(Oid), 0, sizeof(TriggerState) - sizeof(Oid));
		st->valid = false;
	}
	if (!st->valid)
		build_state(st, trigdata);
	last_state = st;			/* (entries stay where they are: none is removed) */
	return st;
}

/*
 * tuples_differ says whether any of the attributes differs between a, b:
 * their bytes, or (when the bytes differ) their values, which one value
 * stored two ways (a column's default kept in the catalog with a 4-byte
 * header, the same text in a row with a 1-byte one; compressed or not) has
 * alike.
 */
static bool
tuples_differ(Bitmapset *attrs, TupleDesc desc, HeapTuple a, HeapTuple b)
{
	int			attnum = -1;

	while ((attnum = bms_next_member(attrs, attnum)) >= 0)
	{
		Form_pg_attribute att = TupleDescAttr(desc, attnum - 1);
		bool		anull;
		bool		bnull;
		Datum		av = heap_getattr(a, attnum, desc, &anull);
		Datum		bv = heap_getattr(b, attnum, desc, &bnull);

		if (anull != bnull)
			return true;
		if (!anull && !datumIsEqual(av, bv, att->attbyval, att->attlen) &&
			!datum_image_eq(av, bv, att->attbyval, att->attlen))
			return true;
	}
	return false;
}

/*
 * keys_differ says whether an UPDATE changed the row's key: its text, when
 * the key columns' values differ (an array's slice that keeps a bitmap
 * without a NULL, say, is another value of the same key).
 */
static bool
keys_differ(TriggerState *st, TupleDesc desc, HeapTuple a, HeapTuple b)
{
	Jsonb	   *image_a = NULL;
	Jsonb	   *image_b = NULL;

	if (!tuples_differ(st->keyset, desc, a, b))
		return false;
	return strcmp(row_key(st, desc, a, &image_a), row_key(st, desc, b, &image_b)) != 0;
}

/*
 * superseded says whether this transaction has updated or deleted a row
 * version since the statement that made it (an AFTER trigger of the
 * table's owner that fired before this one, say).  (The trigger's tuple
 * is fetched when the trigger fires, its header as it is then; only this
 * transaction can change a version it made.)
 */
static bool
superseded(HeapTuple tuple)
{
	HeapTupleHeader h = tuple->t_data;
	TransactionId xmax;

	if (h == NULL || (h->t_infomask & HEAP_XMAX_INVALID) != 0 ||
		HEAP_XMAX_IS_LOCKED_ONLY(h->t_infomask))
		return false;
	xmax = HeapTupleHeaderGetUpdateXid(h);
	return TransactionIdIsValid(xmax) && TransactionIdIsCurrentTransactionId(xmax);
}

/*
 * enqueue_latest queues the image of a row's latest version, as this
 * transaction sees it now, instead of a version it has updated since: the
 * change that updated it may have queued its newer image already (it fired
 * first), or nothing (it changed no column that matters), so the image
 * queued last must be the latest.  A row deleted since queues nothing
 * here: its delete is queued.
 */
static void
enqueue_latest(TriggerState *st, Relation rel, HeapTuple tuple)
{
	ItemPointerData tid = tuple->t_self;
	TableScanDesc scan = table_beginscan_tid(rel, SnapshotSelf);
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	bool		should_free;

	table_tuple_get_latest_tid(scan, &tid);
	table_endscan(scan);
	if (table_tuple_fetch_row_version(rel, &tid, SnapshotSelf, slot))
	{
		HeapTuple	latest = ExecFetchSlotHeapTuple(slot, true, &should_free);

		enqueue(st, rel, latest, true);
		if (should_free)
			heap_freetuple(latest);
	}
	ExecDropSingleTupleTableSlot(slot);
}

/* enqueue_upsert queues a new row version: its image, or its latest one's. */
static void
enqueue_upsert(TriggerState *st, Relation rel, HeapTuple tuple)
{
	if (superseded(tuple))
		enqueue_latest(st, rel, tuple);
	else
		enqueue(st, rel, tuple, true);
}

/*
 * enqueue queues one outbox row for a row: its image (of an upsert) and
 * key computed as the writer, the outbox row written with the statement's
 * others by outbox_batch.c and outbox_write.c (no SQL runs).
 */
static void
enqueue(TriggerState *st, Relation rel, HeapTuple tuple, bool upsert)
{
	TupleDesc	desc = RelationGetDescr(rel);
	Jsonb	   *image = NULL;
	char	   *key;

	if (upsert)
		image = webflow_row_image(st->image, tuple, desc);
	key = row_key(st, desc, tuple, &image);
	webflow_outbox_queue(st->binding_id, upsert, key, upsert ? image : NULL);
	webflow_wake_on_commit();
}

/*
 * row_key returns the key of a row version: made from its key column's
 * value when row_key.c can (one integer or text column), else from its
 * image, which is made into *image when that is NULL.  The same text
 * either way.
 */
static char *
row_key(TriggerState *st, TupleDesc desc, HeapTuple tuple, Jsonb **image)
{
	if (OidIsValid(st->key_basetype))
	{
		AttrNumber	attnum = st->key_attnums[0];
		bool		isnull;
		Datum		value = heap_getattr(tuple, attnum, desc, &isnull);

		return webflow_row_key_of_value(st->key_basetype, value, isnull,
										NameStr(TupleDescAttr(desc, attnum - 1)->attname));
	}
	if (*image == NULL)
		*image = webflow_row_image(st->image, tuple, desc);
	return webflow_row_key(*image, st->key_name_datums, st->nkeys);
}

/*
 * webflow.publish_trigger(collection_id [, options]) enqueues the changed
 * row of a bound table into webflow.outbox.
 */
Datum
webflow_publish_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TriggerState *st;
	Relation	rel;
	TupleDesc	desc;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("webflow.publish_trigger() can only be called as a trigger")));
	if (!TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("webflow.publish_trigger() must be fired AFTER ... FOR EACH ROW")));

	rel = trigdata->tg_relation;
	desc = RelationGetDescr(rel);
	st = get_state(trigdata);

	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		enqueue_upsert(st, rel, trigdata->tg_trigtuple);
	else if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		HeapTuple	oldtup = trigdata->tg_trigtuple;
		HeapTuple	newtup = trigdata->tg_newtuple;

		if (!tuples_differ(st->compare, desc, oldtup, newtup))
			return PointerGetDatum(NULL);
		if (keys_differ(st, desc, oldtup, newtup))
			enqueue(st, rel, oldtup, false);
		enqueue_upsert(st, rel, newtup);
	}
	else if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		enqueue(st, rel, trigdata->tg_trigtuple, false);
	else
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("webflow.publish_trigger() handles INSERT, UPDATE and DELETE only")));
	return PointerGetDatum(NULL);
}
