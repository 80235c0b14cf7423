/*-------------------------------------------------------------------------
 *
 * outbox_batch.h
 *		The publish trigger's outbox rows of a statement, written together
 *		when its triggers are done (outbox_batch.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBFLOW_OUTBOX_BATCH_H
#define WEBFLOW_OUTBOX_BATCH_H

#include "postgres.h"

#include "utils/jsonb.h"

extern void webflow_outbox_queue(int32 binding_id, bool upsert,
								 const char *row_key, Jsonb *image);
extern void webflow_outbox_batch_init(void);

#endif							/* WEBFLOW_OUTBOX_BATCH_H */
