/*-------------------------------------------------------------------------
 *
 * compat.h
 *		Every PostgreSQL-version check of the webflow extension, in one place.
 *
 * The extension builds against PostgreSQL 13 to 17.  Code elsewhere calls
 * the names defined here and never tests PG_VERSION_NUM itself.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBFLOW_COMPAT_H
#define WEBFLOW_COMPAT_H

#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/numeric.h"
#include "utils/wait_event.h"

#if PG_VERSION_NUM < 130000
#error "webflow requires PostgreSQL 13 or later"
#endif

/* MarkGUCPrefixReserved appeared in 15; older versions only warn. */
#if PG_VERSION_NUM < 150000
#define MarkGUCPrefixReserved(prefix) EmitWarningsOnPlaceholders(prefix)
#endif

/*
 * shmem_request_hook appeared in 15: shared memory is requested from it;
 * before, straight from _PG_init.
 */
#if PG_VERSION_NUM >= 150000
#define WEBFLOW_HAS_SHMEM_REQUEST_HOOK 1
#else
#define WEBFLOW_HAS_SHMEM_REQUEST_HOOK 0
#endif

/* InitMaterializedSRF appeared in 15 (SetSingleFuncCall during 15 beta). */
#if PG_VERSION_NUM < 150000
#include "utils/tuplestore.h"

/* webflow_init_materialized_srf sets up a tuplestore result, as 15 does. */
static inline void
webflow_init_materialized_srf(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext oldcontext;
	TupleDesc	tupdesc;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		(rsinfo->allowedModes & SFRM_Materialize) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("set-valued function called in context that cannot accept a set")));
	oldcontext = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
	{
		/* a scalar SETOF: one column of the declared result type */
		tupdesc = CreateTemplateTupleDesc(1);
		TupleDescInitEntry(tupdesc, (AttrNumber) 1, "value",
						   get_fn_expr_rettype(fcinfo->flinfo), -1, 0);
	}
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = tuplestore_begin_heap(true, false, work_mem);
	rsinfo->setDesc = CreateTupleDescCopy(tupdesc);
	MemoryContextSwitchTo(oldcontext);
}
#define MAT_SRF_USE_EXPECTED_DESC 0x01
#define InitMaterializedSRF(fcinfo, flags) webflow_init_materialized_srf(fcinfo)
#endif

/*
 * Wait events: 17 lets an extension name its own; before that every
 * extension shares PG_WAIT_EXTENSION.
 */
#if PG_VERSION_NUM >= 170000
#define WEBFLOW_WAIT_EVENT(var, name) \
	((var) == 0 ? ((var) = WaitEventExtensionNew(name)) : (var))
#else
#define WEBFLOW_WAIT_EVENT(var, name) ((void) (var), (uint32) PG_WAIT_EXTENSION)
#endif

/* Numeric infinity appeared in 14. */
#if PG_VERSION_NUM >= 140000
#define webflow_numeric_is_inf(n) numeric_is_inf(n)
#else
#define webflow_numeric_is_inf(n) ((void) (n), false)
#endif

/* Ownership checks became object_ownercheck() in 16. */
#if PG_VERSION_NUM >= 160000
#include "catalog/pg_class_d.h"
#include "utils/acl.h"
#define webflow_pg_class_ownercheck(relid, role) \
	object_ownercheck(RelationRelationId, (relid), (role))
#else
#include "utils/acl.h"
#define webflow_pg_class_ownercheck(relid, role) pg_class_ownercheck((relid), (role))
#endif

/* Privilege checks on one kind of object became object_aclcheck() in 16. */
#if PG_VERSION_NUM >= 160000
#include "catalog/pg_foreign_server_d.h"
#define webflow_server_aclcheck(serverid, role, mode) \
	object_aclcheck(ForeignServerRelationId, (serverid), (role), (mode))
#else
#define webflow_server_aclcheck(serverid, role, mode) \
	pg_foreign_server_aclcheck((serverid), (role), (mode))
#endif

/*
 * index_insert() took indexUnchanged from 14 on; 17 added
 * index_insert_cleanup(), which ExecCloseIndices calls after the inserts.
 */
#include "access/genam.h"
#if PG_VERSION_NUM >= 140000
#define webflow_index_insert(irel, values, isnull, tid, heaprel, check, info) \
	index_insert((irel), (values), (isnull), (tid), (heaprel), (check), false, (info))
#else
#define webflow_index_insert(irel, values, isnull, tid, heaprel, check, info) \
	index_insert((irel), (values), (isnull), (tid), (heaprel), (check), (info))
#endif
#if PG_VERSION_NUM >= 170000
#define webflow_index_insert_cleanup(irel, info) index_insert_cleanup((irel), (info))
#else
#define webflow_index_insert_cleanup(irel, info) ((void) (irel), (void) (info))
#endif

/* the local id of the current transaction (PGPROC's vxid since 17) */
#include "storage/proc.h"
#if PG_VERSION_NUM >= 170000
#define CURRENT_LXID (MyProc->vxid.lxid)
#else
#define CURRENT_LXID (MyProc->lxid)
#endif

#endif							/* WEBFLOW_COMPAT_H */
