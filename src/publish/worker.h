/*-------------------------------------------------------------------------
 *
 * worker.h
 *		The background worker that drains the outbox.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBFLOW_WORKER_H
#define WEBFLOW_WORKER_H

#include "postgres.h"

extern void webflow_worker_register(void);
extern PGDLLEXPORT void webflow_worker_main(Datum arg);

#endif							/* WEBFLOW_WORKER_H */
