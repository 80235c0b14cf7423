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
	webflow_define_settings();
	webflow_schema_set_fetch(webflow_schema_fetch);
	webflow_outbox_batch_init();
	if (process_shared_preload_libraries_in_progress)
	{
		webflow_shmem_init();
		webflow_worker_register();
	}
}
