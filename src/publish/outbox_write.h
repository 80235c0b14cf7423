/*-------------------------------------------------------------------------
 *
 * outbox_write.h
 *		The writes of outbox rows by the publish trigger (outbox_write.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBFLOW_OUTBOX_WRITE_H
#define WEBFLOW_OUTBOX_WRITE_H

#include "postgres.h"

#include "utils/jsonb.h"

/* The most rows webflow_outbox_write_rows takes at once. */
#define WEBFLOW_OUTBOX_MAX_ROWS 1000

/* One outbox row to write: an upsert with its image, or a delete. */
typedef struct WebflowOutboxRow
{
	int32		binding_id;
	bool		upsert;
	text	   *row_key;
	Jsonb	   *image;			/* NULL for a delete */
} WebflowOutboxRow;

extern void webflow_outbox_write_rows(WebflowOutboxRow *rows, int nrows);
extern bool webflow_outbox_writing(void);
extern void webflow_outbox_refuse_nested(void);

#endif							/* WEBFLOW_OUTBOX_WRITE_H */
