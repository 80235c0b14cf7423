/*-------------------------------------------------------------------------
 *
 * module.c
 *		Module entry point of the webflow extension: module magic and
 *		_PG_init, which puts the parts together.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"

#include "api_schema.h"
#include "outbox_batch.h"
#include "schema_cache.h"
#include "shmem.h"
#include "webflow.h"
#include "worker.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/*
 * _PG_init defines the settings, lets the schema cache fetch from Webflow
 * and, when loaded through shared_preload_libraries, sets up the shared
 * state and the background worker.
 * It does no network set-up: libcurl is initialised lazily by the first
 * process that sends a request.
 */
void
_PG_init(void)
{
	/*
	 * In a server pg_upgrade starts (binary upgrade) nothing is set up: no
	 * worker (connected to a database, it would make the restore fail with
	 * "database is being accessed by other users", and it must not publish
	 * from a cluster being copied), and no settings, so that the webflow.*
	 * settings of roles and databases that the old cluster stored (as
	 * placeholders, before webflow was preloaded) are restored as they
	 * are, not refused.
	 */
	if (IsBinaryUpgrade)
		return;
	webflow_define_settings();
	webflow_schema_set_fetch(webflow_schema_fetch);
	webflow_outbox_batch_init();
	if (process_shared_preload_libraries_in_progress)
	{
		webflow_shmem_init();
		webflow_worker_register();
	}
}
