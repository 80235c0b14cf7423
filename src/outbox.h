/*-------------------------------------------------------------------------
 *
 * outbox.h
 *		The publish trigger and the row key shared by the trigger, sync()
 *		and the worker.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBFLOW_OUTBOX_H
#define WEBFLOW_OUTBOX_H

#include "postgres.h"

#include "utils/jsonb.h"

extern char *webflow_row_key(Jsonb *row, Datum *keys, int nkeys);

#endif							/* WEBFLOW_OUTBOX_H */
