/*-------------------------------------------------------------------------
 *
 * wake.c
 *		Waking the background worker when a transaction that queued changes
 *		commits (never on rollback): for the publish trigger, the TRUNCATE
 *		trigger, sync() and webflow.wake().
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "fmgr.h"

#include "shmem.h"
#include "wake.h"

PG_FUNCTION_INFO_V1(webflow_wake);

static bool wake_at_commit = false;
static bool xact_callback_registered = false;

static void wake_callback(XactEvent event, void *arg);

/* wake_callback wakes the worker when a transaction that enqueued commits. */
static void
wake_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (wake_at_commit)
				webflow_wake_worker();
			wake_at_commit = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			wake_at_commit = false;
			break;
		default:
			break;
	}
}

/* webflow_wake_on_commit makes the worker wake when this transaction commits. */
void
webflow_wake_on_commit(void)
{
	if (!xact_callback_registered)
	{
		RegisterXactCallback(wake_callback, NULL);
		xact_callback_registered = true;
	}
	wake_at_commit = true;
}

/* webflow.wake() wakes the worker when the current transaction commits. */
Datum
webflow_wake(PG_FUNCTION_ARGS)
{
	webflow_wake_on_commit();
	PG_RETURN_VOID();
}
