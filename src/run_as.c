/*-------------------------------------------------------------------------
 *
 * run_as.c
 *		The one place where the extension switches to another role.
 *
 * Code runs as another role only through webflow_run_as_begin/_end, and
 * always in a security-restricted operation with search_path set to
 * pg_catalog, pg_temp, the way VACUUM and ANALYZE run a table's index
 * expressions as its owner.  Two kinds of switch exist:
 *
 *	- up, to the owner of the extension's tables, around fixed statements
 *	  on those tables that name every object with its schema (the binding
 *	  lookup of the publish trigger, the schema cache, the item map, the
 *	  bodies of bind/unbind/sync/retry); no code a non-superuser controls
 *	  is reached from them (the trigger's outbox rows are written without
 *	  SQL, outbox_write.c, and need no switch);
 *	- down, to the owner of a user's table, to read its rows as row images
 *	  (sync() and bind()), so that casts, views and policies the owner wrote
 *	  run with the owner's rights and nobody else's.
 *
 * The restricted context forbids what could outlive the switch (SET ROLE,
 * temporary objects, cursors WITH HOLD, LISTEN); an error inside is undone
 * by the (sub)transaction abort, which restores the saved user and GUCs.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "compat.h"
#include "run_as.h"

/* What is pinned for the current user's requests (see webflow_pin_set). */
static WebflowPin pin = {NULL, InvalidOid, 0};
static bool callbacks_registered = false;

static void drop_pin_at_end(XactEvent event, void *arg);
static void drop_pin_at_abort(SubXactEvent event, SubTransactionId mySubid,
							  SubTransactionId parentSubid, void *arg);

/*
 * webflow_run_as_begin makes role the current user, in a security-restricted
 * operation with a fixed search_path, until webflow_run_as_end.
 */
void
webflow_run_as_begin(WebflowRunAs *ra, Oid role)
{
	/* what the caller pinned is not the other role's */
	ra->save_pin = pin;
	pin.what = NULL;
	GetUserIdAndSecContext(&ra->save_user, &ra->save_sec);
	SetUserIdAndSecContext(role, ra->save_sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	ra->save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
}

/* webflow_run_as_end restores the user, context and GUCs saved by _begin. */
void
webflow_run_as_end(WebflowRunAs *ra)
{
	AtEOXact_GUC(true, ra->save_nestlevel);
	SetUserIdAndSecContext(ra->save_user, ra->save_sec);
	pin = ra->save_pin;
}

/*
 * webflow_pin_set pins what (NULL: nothing) for the requests the current
 * user makes in this run_as frame and (sub)transaction, and returns the
 * previous pin for webflow_pin_restore.  A run_as frame starts with nothing
 * pinned; the abort of the (sub)transaction it was made in, or the end of
 * the transaction, drops it.
 */
WebflowPin
webflow_pin_set(const void *what)
{
	WebflowPin	was = pin;

	if (!callbacks_registered)
	{
		RegisterXactCallback(drop_pin_at_end, NULL);
		RegisterSubXactCallback(drop_pin_at_abort, NULL);
		callbacks_registered = true;
	}
	pin.what = what;
	pin.user = GetUserId();
	pin.xact_level = GetCurrentTransactionNestLevel();
	return was;
}

/* webflow_pin_restore puts back the pin webflow_pin_set returned. */
void
webflow_pin_restore(WebflowPin was)
{
	pin = was;
}

/* webflow_pin_current returns what is pinned for the current user, or NULL. */
const void *
webflow_pin_current(void)
{
	return pin.what != NULL && pin.user == GetUserId() ? pin.what : NULL;
}

/* drop_pin_at_end drops the pin at the end of a transaction. */
static void
drop_pin_at_end(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PREPARE || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_PARALLEL_ABORT)
		pin.what = NULL;
}

/* drop_pin_at_abort drops a pin made in a subtransaction that aborts. */
static void
drop_pin_at_abort(SubXactEvent event, SubTransactionId mySubid,
				  SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB && pin.what != NULL &&
		pin.xact_level >= GetCurrentTransactionNestLevel())
		pin.what = NULL;
}

/* webflow_relation_owner returns the owner of a relation. */
Oid
webflow_relation_owner(Oid relid)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tuple))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	return owner;
}

/*
 * webflow_extension_owner returns the owner of the extension's tables (the
 * role that created the extension), through webflow.outbox.
 */
Oid
webflow_extension_owner(void)
{
	Oid			relid = get_relname_relid("outbox", get_namespace_oid("webflow", false));

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table webflow.outbox does not exist"),
				 errhint("Create the extension with CREATE EXTENSION webflow.")));
	return webflow_relation_owner(relid);
}

/*
 * webflow_check_table_owner raises an error unless the current user has the
 * privileges of the owner of relid (as ALTER TABLE requires).
 */
void
webflow_check_table_owner(Oid relid, const char *action)
{
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	if (!webflow_pg_class_ownercheck(relid, GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of table %s to %s it",
						quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
												   get_rel_name(relid)),
						action),
				 errdetail("The check is made for the current role, %s.",
						   GetUserNameFromId(GetUserId(), false))));
}
