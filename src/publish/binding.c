/*-------------------------------------------------------------------------
 *
 * binding.c
 *		A binding as the publisher uses it: its row in webflow.bindings
 *		turned into item_payload options (the collection's schema, key
 *		columns left out of the item unless mapped), and the hash of the
 *		item a row becomes, shared by the worker and webflow.sync().
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

#include "binding.h"
#include "connection.h"
#include "jsonb_util.h"
#include "payload.h"
#include "payload_plan.h"
#include "publish.h"
#include "reference.h"
#include "shmem.h"
#include "webflow.h"

PG_FUNCTION_INFO_V1(webflow_payload_hash);
PG_FUNCTION_INFO_V1(webflow_binding_payload);

/* an entry of a table of bindings, by id */
typedef struct BindingEntry
{
	int32		id;
	Binding    *binding;
} BindingEntry;

static Jsonb *binding_payload_options(Jsonb *options, const char *collection,
									  ArrayType *keys);
static void binding_connection(Binding *b, const char *name, Datum bound_by,
							   bool no_role);
static void binding_connection_owner(Binding *b, Datum owner, bool no_owner);

/* webflow_binding_table makes an empty table of bindings, by id. */
HTAB *
webflow_binding_table(MemoryContext cxt)
{
	HASHCTL		ctl;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(int32);
	ctl.entrysize = sizeof(BindingEntry);
	ctl.hcxt = cxt;
	return hash_create("webflow bindings", 16, &ctl,
					   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/* webflow_payload_hash_text returns a short hash of a payload, to skip unchanged rows. */
char *
webflow_payload_hash_text(Jsonb *payload)
{
	char	   *text = JsonbToCString(NULL, &payload->root, VARSIZE(payload));

	return psprintf("%016" INT64_MODIFIER "x",
					(uint64) hash_bytes_extended((const unsigned char *) text,
												 strlen(text), 0));
}

/*
 * binding_payload_options turns binding options into item_payload options:
 * the trigger's own keys go, the collection comes in, and key columns are
 * left out of the item unless "fields" maps them.
 */
static Jsonb *
binding_payload_options(Jsonb *options, const char *collection, ArrayType *keys)
{
	JsonbParseState *st = NULL;
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

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	webflow_jsonb_put_string(&st, "collection", collection);
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
			webflow_jsonb_put_value(&st, key, &v);
		}
	}
	/* the key columns are excluded, unless "fields" maps them */
	webflow_jsonb_put_key(&st, "exclude");
	pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
	for (i = 0; exclude != NULL && i < webflow_jsonb_array_size(exclude); i++)
		webflow_jsonb_put_value(&st, NULL, webflow_jsonb_array_element(exclude, i));
	deconstruct_array(keys, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &nkeys);
	for (i = 0; i < nkeys; i++)
	{
		char	   *col = TextDatumGetCString(elems[i]);

		if (webflow_jsonb_is_object(fields) &&
			webflow_jsonb_container_get(fields->val.binary.data, col) != NULL)
			continue;
		webflow_jsonb_put_string(&st, NULL, col);
	}
	pushJsonbValue(&st, WJB_END_ARRAY, NULL);
	return webflow_jsonb_finish(&st, false);
}

/*
 * binding_connection looks up the binding's connection as the role that
 * bound the table would use it (the default connection when it names
 * none); a connection that role may no longer use leaves conn_refusal
 * set, and the binding's changes wait.
 */
static void
binding_connection(Binding *b, const char *name, Datum bound_by, bool no_role)
{
	ConnectionRefusal why;

	if (name != NULL && name[0] != '\0' && no_role)
		b->conn_refusal = psprintf("the binding of connection \"%s\" names no role", name);
	else if (!webflow_connection_lookup(name, no_role ? InvalidOid : DatumGetObjectId(bound_by),
										&b->conn, &why))
		b->conn_refusal = why.hint ? psprintf("%s (%s)", why.message, why.hint) : why.message;
	if (b->conn_refusal != NULL)
	{
		/* (a key of its own: the refusal does not pause the connection) */
		b->conn.name = name;
		b->conn.token = NULL;
	}
}

/*
 * binding_connection_owner refuses a binding's connection whose server has
 * another owner than when the table was bound: a server renamed or dropped
 * and another made under its name (by a role that may create servers) must
 * not receive the table's rows.
 */
static void
binding_connection_owner(Binding *b, Datum owner, bool no_owner)
{
	if (b->conn_refusal != NULL || b->conn.name == NULL || b->conn.name[0] == '\0')
		return;
	if (no_owner || DatumGetObjectId(owner) != b->conn.server_owner)
	{
		b->conn_refusal = psprintf("webflow connection \"%s\" has another owner than when the table was bound (bind the table again to use it)",
								   b->conn.name);
		b->conn.token = NULL;
	}
}

/* webflow_load_binding returns a binding of the pass, reading it on first use. */
Binding *
webflow_load_binding(HTAB *bindings, int32 id, MemoryContext cxt)
{
	BindingEntry *entry;
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
		return entry->binding;
	entry->binding = NULL;
	args[0] = Int32GetDatum(id);
	if (SPI_execute_with_args("SELECT collection_id, options, key_columns, "
							  "(SELECT c.relowner FROM pg_catalog.pg_class c"
							  "  WHERE c.oid OPERATOR(pg_catalog.=) source), "
							  /* (the 1.0 SQL, which this library also runs, has neither) */
							  "pg_catalog.to_jsonb(b) OPERATOR(pg_catalog.->>) 'connection', "
							  "(pg_catalog.to_jsonb(b) OPERATOR(pg_catalog.->>) 'bound_by')::pg_catalog.regrole, "
							  "(pg_catalog.to_jsonb(b) OPERATOR(pg_catalog.->>) 'connection_owner')::pg_catalog.regrole "
							  "FROM webflow.bindings b WHERE id OPERATOR(pg_catalog.=) $1",
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
	b->table_owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
													SPI_tuptable->tupdesc, 4, &isnull));
	if (isnull)
		b->table_owner = InvalidOid;
	v = webflow_jsonb_get(options, "on_delete");
	b->on_delete = v ? webflow_jsonb_string(v) : pstrdup("unpublish");
	if (b->on_delete == NULL)
		b->on_delete = pstrdup("unpublish");
	v = webflow_jsonb_get(options, "live");
	b->live = !(v != NULL && v->type == jbvBool && !v->val.boolean);
	b->payload_options = binding_payload_options(options, b->collection_id, keys);
	binding_connection(b, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 5),
					   SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 6, &isnull),
					   isnull);
	binding_connection_owner(b, SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 7, &isnull),
							 isnull);
	MemoryContextSwitchTo(old);
	entry->binding = b;
	return b;
}

/*
 * build_as_table_owner builds a row's item, its references resolved only
 * to collections of the bound table's owner.
 */
static Jsonb *
build_as_table_owner(Binding *b, Jsonb *row)
{
	Oid			saved = webflow_set_reference_owner(b->table_owner);
	Jsonb	   *volatile payload = NULL;

	PG_TRY();
	{
		payload = webflow_payload_build(b->payload, row);
	}
	PG_FINALLY();
	{
		webflow_set_reference_owner(saved);
	}
	PG_END_TRY();
	return payload;
}

/*
 * binding_payload builds the item a row becomes under binding_id, as the
 * worker does (the binding and its prepared payload state stay in fn_extra
 * for the statement); NULL when the row cannot become an item, or the
 * error when strict.
 */
static Jsonb *
binding_payload(FunctionCallInfo fcinfo, int32 binding_id, Jsonb *row, bool strict)
{
	Binding    *volatile b = (Binding *) fcinfo->flinfo->fn_extra;
	Jsonb	   *volatile payload = NULL;
	MemoryContext old = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	Oid			saved_owner;

	if (b == NULL || b->id != binding_id)
	{
		HTAB	   *bindings;

		MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
		bindings = webflow_binding_table(fcinfo->flinfo->fn_mcxt);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		b = webflow_load_binding(bindings, binding_id, fcinfo->flinfo->fn_mcxt);
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
	if (strict)
		return build_as_table_owner(b, row);

	/* references resolve only to collections of the table's owner */
	saved_owner = webflow_set_reference_owner(b->table_owner);

	/* a row that cannot become an item is queued, to fail alone */
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(old);
	PG_TRY();
	{
		payload = webflow_payload_build(b->payload, row);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(old);
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		payload = NULL;
	}
	PG_END_TRY();
	webflow_set_reference_owner(saved_owner);
	MemoryContextSwitchTo(old);
	CurrentResourceOwner = owner;
	return payload;
}

/*
 * webflow._payload_hash(binding_id, row [, strict]) hashes the item a row
 * would become, as the worker does, so that sync() skips unchanged rows.
 */
Datum
webflow_payload_hash(PG_FUNCTION_ARGS)
{
	bool		strict = PG_NARGS() > 2 && !PG_ARGISNULL(2) && PG_GETARG_BOOL(2);
	Jsonb	   *payload = binding_payload(fcinfo, PG_GETARG_INT32(0),
										  PG_GETARG_JSONB_P(1), strict);

	if (payload == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(webflow_payload_hash_text(payload)));
}

/*
 * webflow._binding_payload(binding_id, row) is the item a row becomes under
 * a binding, as the worker sends it (NULL when it cannot become one).
 */
Datum
webflow_binding_payload(PG_FUNCTION_ARGS)
{
	Jsonb	   *payload = binding_payload(fcinfo, PG_GETARG_INT32(0),
										  PG_GETARG_JSONB_P(1), false);

	if (payload == NULL)
		PG_RETURN_NULL();
	PG_RETURN_JSONB_P(payload);
}

/* webflow_delete_action is what deleting a row's item takes for a binding. */
ChangeAction
webflow_delete_action(Binding *b)
{
	if (strcmp(b->on_delete, "ignore") == 0)
		return ACTION_NONE;
	if (strcmp(b->on_delete, "archive") == 0)
		return ACTION_ARCHIVE;
	if (!b->live)
		return ACTION_DELETE;
	if (strcmp(b->on_delete, "unpublish_only") == 0)
		return ACTION_UNPUBLISH;
	return ACTION_UNPUBLISH_DELETE;
}

PG_FUNCTION_INFO_V1(webflow_use_binding_connection);

/*
 * webflow._use_binding_connection(binding_id) makes the requests the
 * current user (the extension owner, in verify() and sync()) sends next
 * go over the binding's connection, with the token of the mapping of the
 * role that bound the table; NULL goes back to the usual connection.  The
 * end of the transaction drops the pin; code running as another user
 * never sees it (see webflow_connection_pin).
 */
Datum
webflow_use_binding_connection(PG_FUNCTION_ARGS)
{
	Binding    *b;

	/* (only the extension owner's verify() and sync(), whatever is granted) */
	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only the extension's own functions may use a binding's connection")));
	if (PG_ARGISNULL(0))
	{
		webflow_connection_pin(NULL);
		PG_RETURN_VOID();
	}
	SPI_connect();
	b = webflow_load_binding(webflow_binding_table(TopTransactionContext),
							 PG_GETARG_INT32(0), TopTransactionContext);
	SPI_finish();
	if (b == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("binding %d does not exist", PG_GETARG_INT32(0))));
	if (b->conn_refusal != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("the connection of binding %d cannot be used: %s",
						b->id, b->conn_refusal)));
	webflow_connection_pin(&b->conn);
	PG_RETURN_VOID();
}
