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
#include "utils/guc.h"
#include "utils/snapmgr.h"

#include "step.h"

/*
 * webflow_pass_settings sets what every pass of this process runs under,
 * whatever postgresql.conf says: a pinned search_path, transactions that
 * may write (a pass records what it did: default_transaction_read_only
 * = on made every pass fail), READ COMMITTED (each statement sees what
 * committed before it began: the claim's SKIP LOCKED and the record
 * step's updates of rows changed since would fail under an older
 * snapshot), and no JIT, whose compilation of a statement that reads a
 * big backlog once costs more than the statement.
 */
void
webflow_pass_settings(void)
{
	SetConfigOption("search_path", "pg_catalog, pg_temp", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("default_transaction_isolation", "read committed",
					PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("default_transaction_read_only", "off", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("jit", "off", PGC_SUSET, PGC_S_OVERRIDE);
}

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
