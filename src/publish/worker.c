/*-------------------------------------------------------------------------
 *
 * worker.c
 *		The background worker: one per cluster, connected to
 *		webflow.database_name, draining webflow.outbox.
 *
 * It sleeps on its latch, which the publish trigger sets when a
 * transaction that enqueued rows commits, and wakes on its own every
 * webflow.naptime, or earlier when a retry comes due.  Each pass is
 * drain.c's: claim in a short transaction, send with none open, record in
 * another short transaction.
 *
 * Failure handling:
 *	- an error inside a pass is logged, the transaction rolled back, and
 *	  the worker carries on after a pause: one bad row or state cannot make
 *	  it crash-loop (rows that cannot be built fail alone, in drain.c);
 *	- SIGTERM (shutdown, pg_terminate_backend) aborts the request in flight
 *	  through the HTTP progress callback and exits with code 1, so the
 *	  postmaster restarts it after a second unless the server is stopping;
 *	  rows it left "sending" are taken up again, as maybe sent;
 *	- SIGHUP reloads the settings; SIGUSR1 (procsignal) is handled, so
 *	  DROP DATABASE of another database never waits on it;
 *	- it starts only once recovery has finished: on a standby it waits
 *	  and begins draining after promotion;
 *	- without the extension in its database it says so, in the log and in
 *	  webflow.worker_status(), and checks again every naptime.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "bgworker.h"
#include "compat.h"
#include "connection.h"
#include "connection_status.h"
#include "drain.h"
#include "http.h"
#include "jsonb_util.h"
#include "publish.h"
#include "ratelimit.h"
#include "shmem.h"
#include "sql_version.h"
#include "step.h"
#include "webflow.h"
#include "worker.h"

/* The longest a pass of the worker waits out a connection's pause. */
#define WORKER_MAX_PAUSE_WAIT_MS 1000

/* How long the worker waits after a pass that took nothing of what was due. */
#define WORKER_HELD_WAIT_MS 1000

PG_FUNCTION_INFO_V1(webflow_worker_status);

static uint32 wait_event_main = 0;

static void set_state(const char *state, const char *problem);
static void worker_exit(int code, Datum arg);
static bool extension_ready(long *next_due_ms, char **problem, char **hint);

/* webflow_worker_register registers the worker with the postmaster. */
void
webflow_worker_register(void)
{
	BackgroundWorker worker;

	webflow_bgworker_init(&worker, "webflow_worker_main", "webflow worker", "webflow worker");
	worker.bgw_restart_time = 1;
	RegisterBackgroundWorker(&worker);
}

/* set_state shows what the worker does, in shared memory and pgstat. */
static void
set_state(const char *state, const char *problem)
{
	WebflowShared *s = webflow_shared();

	SpinLockAcquire(&s->mutex);
	strlcpy(s->worker_state, state, sizeof(s->worker_state));
	strlcpy(s->worker_problem, problem ? problem : "", sizeof(s->worker_problem));
	SpinLockRelease(&s->mutex);
}

/* worker_exit clears the worker's entry in shared memory. */
static void
worker_exit(int code, Datum arg)
{
	WebflowShared *s = webflow_shared();

	SpinLockAcquire(&s->mutex);
	s->worker_pid = 0;
	s->worker_latch = NULL;
	strlcpy(s->worker_state, "stopped", sizeof(s->worker_state));
	SpinLockRelease(&s->mutex);
}

/*
 * The milliseconds until the next pending row is due: 0 when a fresh row
 * waits (pending and never put back, next_attempt_at = enqueued_at) or a
 * packed one (%s: NEXT_DUE_PACKED_SQL from 1.1 on), else
 * the earliest due time of the others; the conditions are the predicates
 * of outbox_fresh and outbox_due, word for word.
 */
#define NEXT_DUE_SQL \
	"SELECT CASE WHEN EXISTS (SELECT FROM webflow.outbox o" \
	"  WHERE " OUTBOX_FRESH_PREDICATE("o") ")%s THEN 0" \
	" ELSE (SELECT extract(epoch FROM min(next_attempt_at) - now()) * 1000" \
	"  FROM webflow.outbox" \
	"  WHERE state = 'pending' AND next_attempt_at <> enqueued_at) END"
#define NEXT_DUE_PACKED_SQL " OR EXISTS (SELECT FROM webflow.outbox_packed)"

/*
 * extension_ready says whether the extension exists in our database with
 * SQL this library runs (else *problem says why not), and how long until
 * the next retry is due (-1: none).
 */
static bool
extension_ready(long *next_due_ms, char **problem, char **hint)
{
	bool		ready;
	char	   *version;

	*next_due_ms = -1;
	*problem = NULL;
	*hint = NULL;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	version = webflow_sql_version();
	if (version == NULL)
	{
		*problem = psprintf("extension \"webflow\" is not installed in database \"%s\"",
							webflow_database_name);
		*hint = psprintf("Run CREATE EXTENSION webflow in database \"%s\", or set webflow.database_name.",
						 webflow_database_name);
	}
	else if (!webflow_sql_version_known(version))
	{
		*problem = psprintf("the extension's SQL in database \"%s\" is version %s, which the webflow library %s does not run",
							webflow_database_name, version, EXTVERSION);
		*hint = psprintf("Install the webflow library of version %s and restart PostgreSQL; queued changes wait.",
						 version);
	}
	if (*problem)
	{
		*problem = MemoryContextStrdup(TopMemoryContext, *problem);
		*hint = MemoryContextStrdup(TopMemoryContext, *hint);
	}
	ready = *problem == NULL;
	if (ready)
	{
		bool		isnull;
		Datum		d;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		/* a fresh row (outbox_fresh) is due now; the others by outbox_due */
		if (SPI_execute(psprintf(NEXT_DUE_SQL, webflow_sql_has_table("outbox_packed") ?
								 NEXT_DUE_PACKED_SQL : ""), true, 1) == SPI_OK_SELECT &&
			SPI_processed == 1)
		{
			d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
			if (!isnull)
			{
				double		ms = DatumGetFloat8(DirectFunctionCall1(numeric_float8, d));

				*next_due_ms = ms < 0 ? 0 : (long) Min(ms, (double) LONG_MAX / 2);
			}
		}
		SPI_finish();
	}
	PopActiveSnapshot();
	CommitTransactionCommand();
	return ready;
}

/* webflow_worker_main is the worker's entry point. */
void
webflow_worker_main(Datum arg)
{
	WebflowShared *s = webflow_shared();
	MemoryContext pass_cxt;
	/* a pause longer than a second stops only its connection's changes */
	PassOptions opts = {WORKER_MAX_PAUSE_WAIT_MS};
	bool		warned_missing = false;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	BackgroundWorkerInitializeConnection(webflow_database_name, NULL, 0);
	/* DROP DATABASE elsewhere must not wait for a request in flight */
	webflow_http_abort_on_barrier = true;
	pgstat_report_appname("webflow worker");
	webflow_pass_settings();

	SpinLockAcquire(&s->mutex);
	s->worker_pid = MyProcPid;
	s->worker_latch = MyLatch;
	s->worker_started = GetCurrentTimestamp();
	SpinLockRelease(&s->mutex);
	before_shmem_exit(worker_exit, (Datum) 0);
	set_state("starting", NULL);
	ereport(LOG,
			(errmsg("webflow worker started in database \"%s\"", webflow_database_name)));
	/* bindings publish through the default connection */
	webflow_connection_default_only();

	pass_cxt = AllocSetContextCreate(TopMemoryContext, "webflow worker pass",
									 ALLOCSET_DEFAULT_SIZES);

	for (;;)
	{
		long		timeout_ms = (long) webflow_naptime_s * 1000;
		long		next_due_ms = -1;
		bool		busy = false;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			/* a reload (a new token, or the same one fixed at Webflow) resumes */
			webflow_auth_resume();
		}

		PG_TRY();
		{
			char	   *problem = NULL;
			char	   *hint = NULL;

			webflow_worker_wakeable(webflow_worker_enabled);
			if (!webflow_worker_enabled)
				set_state("disabled", "webflow.worker_enabled is off");
			else if (!extension_ready(&next_due_ms, &problem, &hint))
			{
				if (!warned_missing)
					ereport(WARNING,
							(errmsg("webflow worker: %s", problem),
							 errhint("%s", hint)));
				warned_missing = true;
				set_state("waiting for the extension", problem);
				pfree(problem);
				pfree(hint);
			}
			else
			{
				int			limit = webflow_batch_size * 10;
				int			claimed;
				int64		done;

				warned_missing = false;
				set_state("draining", NULL);
				pgstat_report_activity(STATE_RUNNING, "webflow: draining the outbox");
				done = webflow_drain_pass(limit, &opts, pass_cxt, &claimed);
				pgstat_report_activity(STATE_IDLE, NULL);
				pgstat_report_stat(false);
				SpinLockAcquire(&s->mutex);
				s->last_pass = GetCurrentTimestamp();
				SpinLockRelease(&s->mutex);
				/* more rows may be due: go on without sleeping */
				busy = claimed > 0 && done > 0;
				/* the worker of a drain() holds the lock: look again soon */
				if (done < 0)
					next_due_ms = Max(next_due_ms, 500);
				/*
				 * due rows that the pass could not take are held by open
				 * transactions (an unbind(), a DROP TABLE): look again in a
				 * while, not at once (a commit that queues wakes us anyway)
				 */
				else if (claimed == 0 && next_due_ms == 0)
					next_due_ms = WORKER_HELD_WAIT_MS;
				set_state("idle", NULL);
			}
		}
		PG_CATCH();
		{
			ErrorData  *edata = webflow_bgworker_recover(pass_cxt);

			set_state("recovering from an error", edata->message);
			pgstat_report_activity(STATE_IDLE, NULL);
			busy = false;
			next_due_ms = -1;
		}
		PG_END_TRY();
		MemoryContextReset(pass_cxt);

		if (busy)
			continue;
		if (next_due_ms >= 0 && next_due_ms < timeout_ms)
			timeout_ms = Max(next_due_ms, 10);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout_ms, WEBFLOW_WAIT_EVENT(wait_event_main, "WebflowWorkerMain"));
		ResetLatch(MyLatch);
	}
}

/*
 * webflow.worker_status() describes the background worker and the shared
 * rate limiter, as JSON.
 */
Datum
webflow_worker_status(PG_FUNCTION_ARGS)
{
	WebflowShared *s = webflow_shared();
	WebflowShared copy;
	WebflowBudget budget;
	bool		has_budget = webflow_budget_report("", &budget);
	JsonbParseState *st = NULL;
	TimestampTz now = GetCurrentTimestamp();

	SpinLockAcquire(&s->mutex);
	memcpy(&copy, s, offsetof(WebflowShared, budgets));
	SpinLockRelease(&s->mutex);

	pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
	webflow_jsonb_put_bool(&st, "preloaded", webflow_shmem_available());
	webflow_jsonb_put_int(&st, "pid", copy.worker_pid, copy.worker_pid == 0);
	webflow_jsonb_put_string(&st, "state",
							 copy.worker_pid != 0 ? copy.worker_state :
							 webflow_shmem_available() ? "not running" :
							 "not loaded (webflow is not in shared_preload_libraries)");
	webflow_jsonb_put_string(&st, "problem", copy.worker_problem[0] ? copy.worker_problem : NULL);
	webflow_jsonb_put_string(&st, "database", webflow_database_name);
	webflow_jsonb_put_bool(&st, "enabled", webflow_worker_enabled);
	webflow_jsonb_put_time(&st, "started", copy.worker_started);
	webflow_jsonb_put_time(&st, "lastPass", copy.last_pass);
	webflow_jsonb_put_time(&st, "lastSuccess", copy.last_success);
	webflow_jsonb_put_int(&st, "rowsDone", copy.rows_done, false);
	webflow_jsonb_put_int(&st, "rowsFailed", copy.rows_failed, false);
	webflow_jsonb_put_int(&st, "requests", copy.requests_sent, false);
	webflow_jsonb_put_int(&st, "itemsSent", copy.items_sent, false);
	/* the default connection's budget, as before connections had their own */
	webflow_jsonb_put_int(&st, "rateLimit", webflow_rate_limit, false);
	webflow_jsonb_put_int(&st, "serverRateLimit", has_budget ? budget.server_limit : -1,
						  !has_budget || budget.server_limit < 0);
	webflow_jsonb_put_int(&st, "serverRemaining", has_budget ? budget.server_remaining : -1,
						  !has_budget || budget.server_remaining < 0);
	webflow_jsonb_put_time(&st, "pausedUntil",
						   has_budget && budget.paused_until > now ? budget.paused_until : 0);
	webflow_jsonb_put_string(&st, "pausedBecause",
							 has_budget ? webflow_budget_pause_reason(&budget, now) : NULL);
	webflow_push_budgets(&st, "connections");
	PG_RETURN_JSONB_P(webflow_jsonb_finish(&st, false));
}
