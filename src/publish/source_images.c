/*-------------------------------------------------------------------------
 *
 * source_images.c
 *		webflow._source_images(source, key_columns, max_rows): the row key
 *		and jsonb image of each row of a bound table, read as its owner.
 *
 * sync() and bind() need the rows of a user's table as jsonb.  Turning a
 * row into jsonb runs code the table's owner chose (casts of its column
 * types to json, views and policies it reads through), so the table is
 * read as its owner, in a security-restricted operation with search_path
 * pg_catalog, pg_temp (run_as.c), the way VACUUM and ANALYZE evaluate a
 * table's index expressions: never as the extension owner who calls this.
 * What leaves this function is plain text and jsonb.
 *
 * The function reads any table as its owner, so it is refused to everyone
 * but superusers (EXECUTE is also revoked from PUBLIC); the extension's
 * own bodies call it as the extension owner after checking the caller.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/tuplestore.h"

#include "compat.h"
#include "row_key.h"
#include "run_as.h"

PG_FUNCTION_INFO_V1(webflow_source_images);

#define SOURCE_FETCH_ROWS 1000

static void read_images(Tuplestorestate *store, TupleDesc desc, Oid relid,
						Datum *keys, int nkeys, int64 max_rows);

/*
 * read_images puts (row key, row image) of up to max_rows rows of relid
 * (all when negative) into store; the caller has switched to its owner.
 */
static void
read_images(Tuplestorestate *store, TupleDesc desc, Oid relid,
			Datum *keys, int nkeys, int64 max_rows)
{
	char	   *nspname = get_namespace_name(get_rel_namespace(relid));
	char	   *relname = get_rel_name(relid);
	char	   *sql;
	Portal		portal;
	int64		seen = 0;

	if (nspname == NULL || relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	sql = psprintf("SELECT pg_catalog.to_jsonb(t) FROM %s t",
				   quote_qualified_identifier(nspname, relname));
	portal = SPI_cursor_open_with_args(NULL, sql, 0, NULL, NULL, NULL, true, 0);
	for (;;)
	{
		uint64		i;

		SPI_cursor_fetch(portal, true, SOURCE_FETCH_ROWS);
		if (SPI_processed == 0)
			break;
		for (i = 0; i < SPI_processed && (max_rows < 0 || seen < max_rows); i++, seen++)
		{
			bool		isnull;
			Datum		image = SPI_getbinval(SPI_tuptable->vals[i],
											  SPI_tuptable->tupdesc, 1, &isnull);
			Datum		values[2];
			bool		nulls[2] = {false, false};

			values[0] = CStringGetTextDatum(webflow_row_key(DatumGetJsonbP(image),
															keys, nkeys));
			values[1] = image;
			tuplestore_putvalues(store, desc, values, nulls);
		}
		SPI_freetuptable(SPI_tuptable);
		if (max_rows >= 0 && seen >= max_rows)
			break;
	}
	SPI_cursor_close(portal);
}

/*
 * webflow._source_images(source regclass, key_columns text[], max_rows
 * bigint) returns (row_key, row_image) for the rows of source.
 */
Datum
webflow_source_images(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			relid;
	Datum	   *keys;
	int			nkeys;
	int64		max_rows;
	WebflowRunAs ra;

	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("webflow._source_images() is for the extension's own functions"),
				 errhint("Use webflow.sync() or webflow.bind().")));
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("source and key_columns must not be NULL")));
	relid = PG_GETARG_OID(0);
	max_rows = PG_ARGISNULL(2) ? -1 : PG_GETARG_INT64(2);
	keys = webflow_key_names(PG_GETARG_ARRAYTYPE_P(1), &nkeys);

	InitMaterializedSRF(fcinfo, 0);
	webflow_run_as_begin(&ra, webflow_relation_owner(relid));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	read_images(rsinfo->setResult, rsinfo->setDesc, relid, keys, nkeys, max_rows);
	SPI_finish();
	webflow_run_as_end(&ra);
	return (Datum) 0;
}
