/*-------------------------------------------------------------------------
 *
 * reference.c
 *		References between items: a Reference or MultiReference value that
 *		is a row key of the referenced collection becomes the Webflow item
 *		id that the item map (webflow.items) gives that row.
 *
 * The item map is readable by its owner only.  It is read here as its
 * owner (in a security-restricted context, as a SECURITY DEFINER function
 * would), but only for roles that may read it; and while a bound table's
 * row becomes an item, only in collections of that table's owner (the
 * item map of another role's collections would tell which of its rows
 * exist).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "reference.h"
#include "run_as.h"
#include "sql_version.h"

/* the role whose collections references may name (InvalidOid: any) */
static Oid	reference_owner = InvalidOid;
static SPIPlanPtr item_lookup_plan = NULL;

/* the last reference webflow_item_lookup found no item for (NULLs: none) */
static char *missing_collection = NULL;
static char *missing_key = NULL;

static void check_reference_owner(const char *collection_id, Datum collection);

/*
 * webflow_set_reference_owner sets the role whose collections references
 * may name while a bound table's row becomes an item (InvalidOid: any, for
 * item_payload, which checks the caller's own rights); it returns the one
 * set before.
 */
Oid
webflow_set_reference_owner(Oid owner)
{
	Oid			old = reference_owner;

	reference_owner = owner;
	return old;
}

/*
 * check_reference_owner refuses a reference to a collection that belongs
 * to another role than the one set by webflow_set_reference_owner (its
 * item map is that role's: resolving keys there would tell which exist).
 * The caller has switched to the extension owner and connected to SPI.
 */
static void
check_reference_owner(const char *collection_id, Datum collection)
{
	Oid			argtypes[1] = {TEXTOID};
	bool		isnull;
	Oid			claimant;

	if (!OidIsValid(reference_owner) || !webflow_sql_has_collection_owners())
		return;
	if (SPI_execute_with_args("SELECT o.owner FROM webflow.collection_owners o"
							  " JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) o.owner"
							  " WHERE o.collection_id OPERATOR(pg_catalog.=) $1",
							  1, argtypes, &collection, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading webflow.collection_owners failed");
	if (SPI_processed == 0)
		return;
	claimant = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
											  SPI_tuptable->tupdesc, 1, &isnull));
	if (claimant != reference_owner && !has_privs_of_role(reference_owner, claimant))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("a row of a table of role %s may not reference items of collection %s",
						GetUserNameFromId(reference_owner, true), collection_id),
				 errdetail("Collection %s belongs to role %s.", collection_id,
						   GetUserNameFromId(claimant, true)),
				 errhint("Reference collections that the tables of role %s feed.",
						 GetUserNameFromId(reference_owner, true))));
}

/*
 * webflow_item_lookup returns the Webflow item id that webflow.items maps
 * a source row key to in a collection, or NULL.
 */
char *
webflow_item_lookup(const char *collection_id, const char *source_key)
{
	MemoryContext caller = CurrentMemoryContext;
	WebflowRunAs ra;
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		args[2];
	char	   *result = NULL;
	int			ret;
	Oid			items = webflow_extension_table("items");

	/* the item map is read as its owner, but only for those who may read it */
	if (pg_class_aclcheck(items, GetUserId(), ACL_SELECT) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to resolve a reference to source key \"%s\" of collection %s",
						source_key, collection_id),
				 errdetail("References are resolved through webflow.items, which the current role may not read."),
				 errhint("GRANT SELECT ON webflow.items to the role, or leave the reference out of the row.")));
	args[0] = CStringGetTextDatum(collection_id);
	args[1] = CStringGetTextDatum(source_key);
	SPI_connect();
	webflow_run_as_begin(&ra, webflow_relation_owner(items));
	check_reference_owner(collection_id, args[0]);
	if (item_lookup_plan == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare("SELECT item_id FROM webflow.items"
									   " WHERE collection_id = $1 AND source_key = $2",
									   2, argtypes);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s",
				 SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		item_lookup_plan = plan;
	}
	ret = SPI_execute_plan(item_lookup_plan, args, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "reading webflow.items failed: %s",
			 SPI_result_code_string(ret));
	if (SPI_processed > 0)
	{
		char	   *id = SPI_getvalue(SPI_tuptable->vals[0],
									  SPI_tuptable->tupdesc, 1);

		if (id != NULL)
			result = MemoryContextStrdup(caller, id);
	}
	webflow_run_as_end(&ra);
	SPI_finish();
	if (result == NULL)
	{
		webflow_forget_missing_reference();
		missing_collection = MemoryContextStrdup(TopMemoryContext, collection_id);
		missing_key = MemoryContextStrdup(TopMemoryContext, source_key);
	}
	return result;
}

/*
 * webflow_missing_reference returns the collection and row key of the
 * last reference that had no item (the publish worker asks whether that
 * row is on its way), or false when there was none since
 * webflow_forget_missing_reference.
 */
bool
webflow_missing_reference(char **collection_id, char **source_key)
{
	if (missing_collection == NULL)
		return false;
	*collection_id = pstrdup(missing_collection);
	*source_key = pstrdup(missing_key);
	return true;
}

/* webflow_forget_missing_reference forgets the last reference without an item. */
void
webflow_forget_missing_reference(void)
{
	if (missing_collection != NULL)
		pfree(missing_collection);
	if (missing_key != NULL)
		pfree(missing_key);
	missing_collection = NULL;
	missing_key = NULL;
}
