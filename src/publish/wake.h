/*-------------------------------------------------------------------------
 *
 * wake.h
 *		Waking the worker when a transaction that queued rows commits
 *		(wake.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBFLOW_WAKE_H
#define WEBFLOW_WAKE_H

#include "postgres.h"

extern void webflow_wake_on_commit(void);

#endif							/* WEBFLOW_WAKE_H */
