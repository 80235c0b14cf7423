/*-------------------------------------------------------------------------
 *
 * bgworker.c
 *		What the extension's two background workers share: the worker of
 *		the server (worker.c) and the short-lived worker of each drain()
 *		(drain_worker.c) are described to the postmaster alike, and both
 *		recover from an error in a pass the same way.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "storage/lock.h"

#include "bgworker.h"

/*
 * webflow_bgworker_init fills in a worker that connects to a database once
 * recovery has finished and runs function (exported by this library); the
 * caller sets its restart time and argument.
 */
void
webflow_bgworker_init(BackgroundWorker *worker, const char *function,
					  const char *type, const char *name)
{
	memset(worker, 0, sizeof(*worker));
	worker->bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker->bgw_start_time = BgWorkerStart_RecoveryFinished;
	snprintf(worker->bgw_library_name, BGW_MAXLEN, "webflow");
	snprintf(worker->bgw_function_name, BGW_MAXLEN, "%s", function);
	snprintf(worker->bgw_name, BGW_MAXLEN, "%s", name);
	snprintf(worker->bgw_type, BGW_MAXLEN, "%s", type);
}

/*
 * webflow_bgworker_recover, called in a PG_CATCH block, logs the error,
 * rolls back whatever transaction was open and lets go of the locks the
 * pass held; it returns a copy of the error, allocated in cxt.
 */
ErrorData *
webflow_bgworker_recover(MemoryContext cxt)
{
	ErrorData  *edata;

	HOLD_INTERRUPTS();
	MemoryContextSwitchTo(cxt);
	edata = CopyErrorData();
	EmitErrorReport();
	FlushErrorState();
	AbortOutOfAnyTransaction();
	LockReleaseAll(USER_LOCKMETHOD, true);
	RESUME_INTERRUPTS();
	return edata;
}
