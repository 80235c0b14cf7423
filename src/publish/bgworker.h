/*-------------------------------------------------------------------------
 *
 * bgworker.h
 *		What the extension's two background workers share: their set-up
 *		and how they recover from an error.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBFLOW_BGWORKER_H
#define WEBFLOW_BGWORKER_H

#include "postgres.h"

#include "postmaster/bgworker.h"
#include "utils/elog.h"
#include "utils/palloc.h"

extern void webflow_bgworker_init(BackgroundWorker *worker, const char *function,
								  const char *type, const char *name);
extern ErrorData *webflow_bgworker_recover(MemoryContext cxt);

#endif							/* WEBFLOW_BGWORKER_H */
