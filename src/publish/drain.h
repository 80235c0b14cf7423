/*-------------------------------------------------------------------------
 *
 * drain.h
 *		One pass over the outbox, for the worker and webflow.drain().
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBFLOW_DRAIN_H
#define WEBFLOW_DRAIN_H

#include "postgres.h"

#include "publish.h"

extern int64 webflow_drain_pass(int max_rows, PassOptions *opts,
								MemoryContext cxt, int *claimed);
extern void webflow_drain_unlock(void);

#endif							/* WEBFLOW_DRAIN_H */
