/*-------------------------------------------------------------------------
 *
 * step.c
 *		The short transactions of an outbox pass (claim, lookups, record):
 *		each step commits on its own, with a snapshot taken when it starts,
 *		so that no transaction is open while requests are in flight.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "executor/spi.h"
#include "utils/snapmgr.h"

#include "step.h"

/* webflow_step_begin opens a step: a transaction of its own. */
void
webflow_step_begin(PassOptions *opts)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

/* webflow_step_end closes a step: it commits. */
void
webflow_step_end(PassOptions *opts)
{
	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
}
