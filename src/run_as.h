/*-------------------------------------------------------------------------
 *
 * run_as.h
 *		The one way the extension runs code as another role.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBFLOW_RUN_AS_H
#define WEBFLOW_RUN_AS_H

#include "postgres.h"

/* What webflow_run_as_begin saved, for webflow_run_as_end to restore. */
typedef struct WebflowRunAs
{
	Oid			save_user;
	int			save_sec;
	int			save_nestlevel;
} WebflowRunAs;

extern void webflow_run_as_begin(WebflowRunAs *ra, Oid role);
extern void webflow_run_as_end(WebflowRunAs *ra);
extern Oid	webflow_relation_owner(Oid relid);
extern Oid	webflow_extension_owner(void);
extern void webflow_check_table_owner(Oid relid, const char *action);

#endif							/* WEBFLOW_RUN_AS_H */
