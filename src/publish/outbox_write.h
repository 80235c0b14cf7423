/*-------------------------------------------------------------------------
 *
 * outbox_write.h
 *		The write of one outbox row by the publish trigger (outbox_write.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBFLOW_OUTBOX_WRITE_H
#define WEBFLOW_OUTBOX_WRITE_H

#include "postgres.h"

#include "utils/jsonb.h"

extern void webflow_outbox_write(int32 binding_id, bool upsert,
								 const char *row_key, Jsonb *image);

#endif							/* WEBFLOW_OUTBOX_WRITE_H */
