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

/*
 * Something pinned for the requests of one user (connection.c pins a
 * connection): it holds for that user, in the run_as frame and the
 * (sub)transaction it was pinned in only.
 */
typedef struct WebflowPin
{
	const void *what;			/* NULL: nothing pinned */
	Oid			user;
	int			xact_level;
} WebflowPin;

/* What webflow_run_as_begin saved, for webflow_run_as_end to restore. */
typedef struct WebflowRunAs
{
	Oid			save_user;
	int			save_sec;
	int			save_nestlevel;
	WebflowPin	save_pin;
} WebflowRunAs;

extern void webflow_run_as_begin(WebflowRunAs *ra, Oid role);
extern void webflow_run_as_end(WebflowRunAs *ra);
extern WebflowPin webflow_pin_set(const void *what);
extern void webflow_pin_restore(WebflowPin was);
extern const void *webflow_pin_current(void);
extern Oid	webflow_relation_owner(Oid relid);
extern Oid	webflow_extension_owner(void);
extern void webflow_check_table_owner(Oid relid, const char *action);

#endif							/* WEBFLOW_RUN_AS_H */
