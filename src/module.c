/*-------------------------------------------------------------------------
 *
 * module.c
 *		Module entry point of the webflow extension: module magic and
 *		_PG_init, which defines the settings and, when preloaded, sets up
 *		the shared state and the background worker.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"

#include "shmem.h"
#include "webflow.h"
#include "worker.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/*
 * _PG_init defines the settings and, when loaded through
 * shared_preload_libraries, the shared state and the background worker.
 * It does no network set-up: libcurl is initialised lazily by the first
 * process that sends a request.
 */
void
_PG_init(void)
{
	webflow_define_settings();
	if (process_shared_preload_libraries_in_progress)
	{
		webflow_shmem_init();
		webflow_worker_register();
	}
}
