/*-------------------------------------------------------------------------
 *
 * binding.h
 *		Bindings as a pass sees them, and the item a row becomes under one
 *		(binding.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBFLOW_BINDING_H
#define WEBFLOW_BINDING_H

#include "postgres.h"

#include "utils/hsearch.h"
#include "utils/jsonb.h"

#include "publish.h"

extern HTAB *webflow_binding_table(MemoryContext cxt);
extern Binding *webflow_load_binding(HTAB *bindings, int32 id, MemoryContext cxt);
extern char *webflow_payload_hash_text(Jsonb *payload);
extern ChangeAction webflow_delete_action(Binding *b);

#endif							/* WEBFLOW_BINDING_H */
