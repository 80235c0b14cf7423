/*-------------------------------------------------------------------------
 *
 * outbox.h
 *		What the publish trigger shares: the row key (also used by sync()
 *		and the worker), the write of an outbox row, and the wake-up of the
 *		worker at commit.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBFLOW_OUTBOX_H
#define WEBFLOW_OUTBOX_H

#include "postgres.h"

#include "utils/array.h"
#include "utils/jsonb.h"

/* row_key.c */
extern char *webflow_row_key(Jsonb *row, Datum *keys, int nkeys);
extern Datum *webflow_key_names(ArrayType *keys, int *nkeys);

/* outbox_write.c */
extern void webflow_outbox_write(int32 binding_id, bool upsert,
								 const char *row_key, Jsonb *image);

/* wake.c */
extern void webflow_wake_on_commit(void);

#endif							/* WEBFLOW_OUTBOX_H */
