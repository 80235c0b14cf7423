/*-------------------------------------------------------------------------
 *
 * outbox_pack.h
 *		Many changes of a statement written as packed rows
 *		(webflow.outbox_packed), which the pass unpacks into the outbox.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBFLOW_OUTBOX_PACK_H
#define WEBFLOW_OUTBOX_PACK_H

#include "postgres.h"

#include "outbox_write.h"

/* The fewest rows written at once that are packed. */
#define WEBFLOW_OUTBOX_PACK_MIN 500

extern bool webflow_outbox_pack(Oid outbox_relid, WebflowOutboxRow *rows,
								const int64 *ids, int nrows);

#endif							/* WEBFLOW_OUTBOX_PACK_H */
