/*-------------------------------------------------------------------------
 *
 * binding_calls.c
 *		webflow.bind(), unbind(), sync() and retry(): check the calling role,
 *		then run the function's body as the extension owner.
 *
 * The four functions change the extension's own tables (bindings, outbox)
 * and create triggers that run as their owner, so their bodies (the private
 * PL/pgSQL functions webflow._bind, _unbind, _sync and _retry) run as the
 * extension owner.  They are not SECURITY DEFINER: inside a SECURITY
 * DEFINER function nothing tells who called it (session_user is only the
 * login role, and would let a function that runs as one role act on the
 * tables of the role that calls it).  Here the entry point runs as the
 * caller, checks the caller (the owner of the table, as ALTER TABLE
 * requires), then calls the body through run_as.c, which switches to the
 * extension owner in a security-restricted operation with a fixed
 * search_path, and passes the caller's oid as the body's last argument.
 *
 * The bodies have EXECUTE revoked from PUBLIC: a call from SQL fails, and
 * only this file reaches them (fmgr calls do not check EXECUTE).  They run
 * no code a non-superuser controls: they read the caller's table only
 * through webflow._source_images(), which switches down to the table's
 * owner (source_images.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/value.h"
#include "parser/parse_func.h"
#include "utils/lsyscache.h"

#include "compat.h"
#include "connection.h"
#include "jsonb_util.h"
#include "ratelimit.h"
#include "run_as.h"
#include "shmem.h"

PG_FUNCTION_INFO_V1(webflow_bind);
PG_FUNCTION_INFO_V1(webflow_unbind);
PG_FUNCTION_INFO_V1(webflow_sync);
PG_FUNCTION_INFO_V1(webflow_retry);
PG_FUNCTION_INFO_V1(webflow_verify);

static Datum call_body(FunctionCallInfo fcinfo, const char *body,
					   const WebflowConnection *conn);
static Datum invoke_pinned(FunctionCallInfo call, const WebflowConnection *conn);
static void bind_connection(FunctionCallInfo fcinfo, WebflowConnection *conn);

/* invoke_pinned calls a function with its requests pinned to conn. */
static Datum
invoke_pinned(FunctionCallInfo call, const WebflowConnection *conn)
{
	WebflowPin	was = webflow_connection_pin(conn);
	volatile Datum result = (Datum) 0;

	PG_TRY();
	{
		result = FunctionCallInvoke(call);
	}
	PG_FINALLY();
	{
		webflow_connection_unpin(was);
	}
	PG_END_TRY();
	return result;
}

/*
 * call_body calls webflow.<body>(the arguments of fcinfo, the caller's oid)
 * as the extension owner and returns its result; with conn, the body's
 * requests go over that connection (pinned for the extension owner only).
 */
static Datum
call_body(FunctionCallInfo fcinfo, const char *body, const WebflowConnection *conn)
{
	Oid			caller = GetUserId();
	Oid		   *argtypes;
	Oid			bodytypes[FUNC_MAX_ARGS];
	int			nargs;
	int			i;
	Oid			fnoid;
	FmgrInfo	flinfo;
	WebflowRunAs ra;
	Datum		result;

	LOCAL_FCINFO(call, FUNC_MAX_ARGS);

	(void) get_func_signature(fcinfo->flinfo->fn_oid, &argtypes, &nargs);
	if (nargs + 1 > FUNC_MAX_ARGS || nargs != PG_NARGS())
		elog(ERROR, "webflow: unexpected arguments calling %s", body);
	memcpy(bodytypes, argtypes, sizeof(Oid) * nargs);
	bodytypes[nargs] = OIDOID;
	fnoid = LookupFuncName(list_make2(makeString("webflow"), makeString(pstrdup(body))),
						   nargs + 1, bodytypes, false);
	fmgr_info(fnoid, &flinfo);
	InitFunctionCallInfoData(*call, &flinfo, nargs + 1, PG_GET_COLLATION(),
							 NULL, fcinfo->resultinfo);
	for (i = 0; i < nargs; i++)
		call->args[i] = fcinfo->args[i];
	call->args[nargs].value = ObjectIdGetDatum(caller);
	call->args[nargs].isnull = false;

	webflow_run_as_begin(&ra, webflow_extension_owner());
	result = conn ? invoke_pinned(call, conn) : FunctionCallInvoke(call);
	webflow_run_as_end(&ra);
	fcinfo->isnull = call->isnull;
	return result;
}

/*
 * bind_connection resolves the connection bind()'s options name ("" when
 * none), as the caller: a caller without USAGE on the server or without a
 * user mapping is refused here (42501, 28000), before anything changes.
 */
static void
bind_connection(FunctionCallInfo fcinfo, WebflowConnection *conn)
{
	JsonbValue *v = NULL;
	char	   *name = NULL;

	if (!PG_ARGISNULL(2))
		v = webflow_jsonb_get(PG_GETARG_JSONB_P(2), "connection");
	if (v != NULL && v->type == jbvString)
		name = pnstrdup(v->val.string.val, v->val.string.len);
	webflow_connection_resolve(name, GetUserId(), conn);
}

/*
 * webflow.bind(source, collection_id, options): see webflow._bind; the
 * collection's schema is read over the binding's connection.
 */
Datum
webflow_bind(PG_FUNCTION_ARGS)
{
	WebflowConnection conn;

	if (!PG_ARGISNULL(0))
		webflow_check_table_owner(PG_GETARG_OID(0), "bind");
	bind_connection(fcinfo, &conn);
	return call_body(fcinfo, "_bind", &conn);
}

/* webflow.unbind(source, collection_id): see webflow._unbind. */
Datum
webflow_unbind(PG_FUNCTION_ARGS)
{
	if (!PG_ARGISNULL(0))
		webflow_check_table_owner(PG_GETARG_OID(0), "unbind");
	return call_body(fcinfo, "_unbind", NULL);
}

/* webflow.sync(source): see webflow._sync. */
Datum
webflow_sync(PG_FUNCTION_ARGS)
{
	if (!PG_ARGISNULL(0))
		webflow_check_table_owner(PG_GETARG_OID(0), "sync");
	return call_body(fcinfo, "_sync", NULL);
}

/* webflow.verify(source): see webflow._verify (a set, materialized). */
Datum
webflow_verify(PG_FUNCTION_ARGS)
{
	if (!PG_ARGISNULL(0))
		webflow_check_table_owner(PG_GETARG_OID(0), "verify");
	return call_body(fcinfo, "_verify", NULL);
}

/*
 * webflow.retry(failed_only): see webflow._retry (the caller's rows only);
 * a superuser's call also lifts a pause after a 401/403, so that the next
 * request tells whether the token works now (another role's would let it
 * spend the refused token at will).
 */
Datum
webflow_retry(PG_FUNCTION_ARGS)
{
	Datum		result = call_body(fcinfo, "_retry", NULL);

	if (webflow_shmem_available() && superuser())
		webflow_auth_resume();
	return result;
}
