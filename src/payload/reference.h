/*-------------------------------------------------------------------------
 *
 * reference.h
 *		References between items: a row key of a referenced collection
 *		turned into the Webflow item id the item map gives it (reference.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBFLOW_REFERENCE_H
#define WEBFLOW_REFERENCE_H

#include "postgres.h"

extern Oid	webflow_set_reference_owner(Oid owner);
extern char *webflow_item_lookup(const char *collection_id,
								 const char *source_key);
extern bool webflow_missing_reference(char **collection_id, char **source_key);
extern void webflow_forget_missing_reference(void);

#endif							/* WEBFLOW_REFERENCE_H */
