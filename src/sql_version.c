/*-------------------------------------------------------------------------
 *
 * sql_version.c
 *		The library's check of the extension's SQL version.
 *
 * The library (webflow.so, loaded at server start when it is in
 * shared_preload_libraries) and the SQL objects of a database
 * (CREATE EXTENSION, ALTER EXTENSION UPDATE) are installed at different
 * moments: after a package upgrade and a restart, a database may still
 * have the SQL of the release before until someone runs ALTER EXTENSION
 * webflow UPDATE.  This library runs the SQL versions it lists below;
 * the worker and drain() refuse any other (a newer SQL, say, whose tables
 * this library does not know), with a message saying what to do, instead
 * of failing half way through a pass.  The opposite case, an old library
 * still loaded when the update script runs, is refused by the update
 * script itself (webflow.library_version() does not exist in it).
 *
 *		webflow.library_version(): the version of the library loaded.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"

#include "sql_version.h"
#include "webflow.h"

PG_FUNCTION_INFO_V1(webflow_library_version);

/* The SQL versions this library runs (webflow--*.sql). */
static const char *const known_versions[] = {"1.0", "1.1"};

/*
 * webflow_sql_version returns the version of the extension's SQL in the
 * current database (palloc'd), or NULL when the extension is not there.
 * Needs a transaction.
 */
char *
webflow_sql_version(void)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	char	   *version = NULL;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber,
				F_NAMEEQ, CStringGetDatum("webflow"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		Datum		d = heap_getattr(tuple, Anum_pg_extension_extversion,
									 RelationGetDescr(rel), &isnull);

		if (!isnull)
			version = text_to_cstring(DatumGetTextPP(d));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return version;
}

/* webflow_sql_version_known says whether this library runs that SQL version. */
bool
webflow_sql_version_known(const char *version)
{
	for (int i = 0; i < lengthof(known_versions); i++)
		if (strcmp(version, known_versions[i]) == 0)
			return true;
	return false;
}

/*
 * webflow_require_known_sql_version raises an error when the current
 * database's extension SQL is of a version this library does not run.
 */
void
webflow_require_known_sql_version(void)
{
	char	   *version = webflow_sql_version();

	if (version != NULL && !webflow_sql_version_known(version))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the webflow library %s does not run the extension's SQL version %s",
						EXTVERSION, version),
				 errdetail("This library runs the SQL of versions 1.0 and 1.1; nothing is sent until they match, and queued changes wait."),
				 errhint("Install the webflow library of version %s and restart PostgreSQL.", version)));
}

/*
 * webflow_extension_table returns the oid of a table of the extension's
 * schema; a table the database's SQL does not have yet asks for the
 * update.
 */
Oid
webflow_extension_table(const char *name)
{
	Oid			relid = get_relname_relid(name, get_namespace_oid("webflow", false));

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table webflow.%s does not exist", name),
				 errhint("Update the extension with ALTER EXTENSION webflow UPDATE.")));
	return relid;
}

/*
 * webflow_sql_has_collection_owners says whether the database's SQL has
 * webflow.collection_owners (1.1 on): under 1.0's SQL there are no
 * collection claims to make.
 */
bool
webflow_sql_has_collection_owners(void)
{
	return webflow_sql_has_table("collection_owners");
}

/*
 * webflow_sql_has_table says whether the database's SQL has the table
 * webflow.name (one that a later version of the SQL made).
 */
bool
webflow_sql_has_table(const char *name)
{
	Oid			nsp = get_namespace_oid("webflow", true);

	return OidIsValid(nsp) && OidIsValid(get_relname_relid(name, nsp));
}

/*
 * webflow.library_version() returns the version of the webflow library
 * this server has loaded, to compare with pg_extension.extversion.
 */
Datum
webflow_library_version(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(EXTVERSION));
}
