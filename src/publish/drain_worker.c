/*-------------------------------------------------------------------------
 *
 * drain_worker.c
 *		webflow.drain(): publish the outbox now, from any session, for
 *		pg_cron or where no background worker runs.
 *
 * The passes run in a short-lived background worker that drain() starts
 * and waits for, so that they have the background worker's guarantees:
 * the claim and the results are committed on their own, with no
 * transaction open while requests are in flight, so a create whose answer
 * is lost (the caller canceled, the server crashed) is known to have maybe
 * happened and is looked up before it is sent again; and only committed
 * changes are published (not the caller's own, uncommitted ones).  When no
 * background worker slot is free, drain() fails and says so.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/dsm.h"
#include "storage/ipc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "bgworker.h"
#include "compat.h"
#include "connection.h"
#include "drain.h"
#include "sql_version.h"
#include "step.h"
#include "webflow.h"

PG_FUNCTION_INFO_V1(webflow_drain);

/* Longest a drain waits for the rate limiter, in ms. */
#define DRAIN_MAX_WAIT_MS 10000

/* What drain() and its worker share, in a DSM segment. */
typedef struct DrainShared
{
	Oid			database;
	Oid			role;
	int			max_rows;
	int64		completed;
	bool		finished;
	char		error[512];
} DrainShared;

PGDLLEXPORT void webflow_drain_worker_main(Datum arg);
static int64 drain_passes(int max_rows, PassOptions *opts);

/*
 * drain_passes runs passes until max_rows rows are completed, nothing is
 * due, or a pass moves nothing; it returns the rows completed.
 */
static int64
drain_passes(int max_rows, PassOptions *opts)
{
	MemoryContext cxt;
	int64		total = 0;

	cxt = AllocSetContextCreate(CurrentMemoryContext, "webflow drain pass",
								ALLOCSET_DEFAULT_SIZES);
	while (total < max_rows)
	{
		int			limit = (int) Min((int64) webflow_batch_size * 10, max_rows - total);
		int			claimed;
		int64		done;

		CHECK_FOR_INTERRUPTS();
		done = webflow_drain_pass(limit, opts, cxt, &claimed);
		MemoryContextReset(cxt);
		if (done < 0 || claimed == 0)
			break;
		total += done;
		if (done == 0)
			break;				/* nothing moved: paused, or all retrying */
	}
	MemoryContextDelete(cxt);
	return total;
}

/* webflow_drain_worker_main is the entry of the worker drain() starts. */
void
webflow_drain_worker_main(Datum arg)
{
	dsm_segment *seg;
	DrainShared *shared;
	PassOptions opts = {DRAIN_MAX_WAIT_MS};

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	/* bindings publish through the default connection */
	webflow_connection_default_only();
	CurrentResourceOwner = ResourceOwnerCreate(NULL, "webflow drain");
	seg = dsm_attach(DatumGetUInt32(arg));
	if (seg == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("webflow drain worker could not attach to its shared memory")));
	shared = dsm_segment_address(seg);
	BackgroundWorkerInitializeConnectionByOid(shared->database, shared->role, 0);
	pgstat_report_appname("webflow drain");
	webflow_pass_settings();

	PG_TRY();
	{
		pgstat_report_activity(STATE_RUNNING, "webflow: draining the outbox for drain()");
		shared->completed = drain_passes(shared->max_rows, &opts);
	}
	PG_CATCH();
	{
		ErrorData  *edata = webflow_bgworker_recover(TopMemoryContext);

		strlcpy(shared->error, edata->message, sizeof(shared->error));
	}
	PG_END_TRY();
	pgstat_report_activity(STATE_IDLE, NULL);
	shared->finished = true;
	dsm_detach(seg);
	proc_exit(0);
}

/*
 * webflow.drain(max_rows) publishes due outbox rows and returns how many
 * rows it completed.
 */
Datum
webflow_drain(PG_FUNCTION_ARGS)
{
	int			max_rows = PG_ARGISNULL(0) ? PG_INT32_MAX : PG_GETARG_INT32(0);
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle = NULL;
	dsm_segment *seg;
	DrainShared *shared;
	pid_t		pid;
	int64		completed;

	if (max_rows < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_rows must be positive or NULL"),
				 errhint("NULL drains every row that is due.")));
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("webflow.drain() cannot run during recovery: this server is a read-only standby"),
				 errhint("Only the primary publishes; its queue is drained after promotion.")));
	webflow_require_known_sql_version();

	seg = dsm_create(sizeof(DrainShared), 0);
	shared = dsm_segment_address(seg);
	memset(shared, 0, sizeof(DrainShared));
	shared->database = MyDatabaseId;
	shared->role = GetUserId();
	shared->max_rows = max_rows;

	webflow_bgworker_init(&worker, "webflow_drain_worker_main", "webflow drain",
						  psprintf("webflow drain for PID %d", MyProcPid));
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	worker.bgw_main_arg = UInt32GetDatum(dsm_segment_handle(seg));
	worker.bgw_notify_pid = MyProcPid;

	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		/*
		 * Not in this session instead: a pass inside the caller's
		 * transaction would lose, with a rollback, what it sent and the
		 * marks that keep a lost create from being made twice.
		 */
		dsm_detach(seg);
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("webflow.drain() found no free background worker slot"),
				 errdetail("drain() publishes from a short-lived background worker of its own."),
				 errhint("Raise max_worker_processes, or try again when fewer background workers run.")));
	}

	PG_TRY();
	{
		/* (a worker with little to do may have finished already: STOPPED) */
		if (WaitForBackgroundWorkerStartup(handle, &pid) == BGWH_POSTMASTER_DIED)
			ereport(ERROR,
					(errcode(ERRCODE_ADMIN_SHUTDOWN),
					 errmsg("could not start the webflow drain worker: the postmaster died")));
		(void) WaitForBackgroundWorkerShutdown(handle);
	}
	PG_CATCH();
	{
		/* canceled: the worker stops too (what it sent is recorded as maybe sent) */
		TerminateBackgroundWorker(handle);
		PG_RE_THROW();
	}
	PG_END_TRY();

	completed = shared->completed;
	if (shared->error[0] != '\0')
	{
		char	   *error = pstrdup(shared->error);

		dsm_detach(seg);
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("webflow.drain() failed: %s", error)));
	}
	if (!shared->finished)
	{
		dsm_detach(seg);
		ereport(ERROR,
				(errcode(ERRCODE_ADMIN_SHUTDOWN),
				 errmsg("the webflow drain worker stopped before it finished")));
	}
	dsm_detach(seg);
	PG_RETURN_INT32((int32) Min(completed, PG_INT32_MAX));
}
