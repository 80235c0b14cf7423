/*-------------------------------------------------------------------------
 *
 * slugify.h
 *		Turning names into Webflow item slugs (see slugify.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBFLOW_SLUGIFY_H
#define WEBFLOW_SLUGIFY_H

#include "postgres.h"

#include "fmgr.h"

extern char *webflow_slugify_cstring(const char *s, int len, int *slug_len);
extern Datum webflow_slugify(PG_FUNCTION_ARGS);

#endif							/* WEBFLOW_SLUGIFY_H */
