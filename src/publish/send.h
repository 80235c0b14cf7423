/*-------------------------------------------------------------------------
 *
 * send.h
 *		Sending the changes of a pass as requests (send.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBFLOW_SEND_H
#define WEBFLOW_SEND_H

#include "postgres.h"

#include "nodes/pg_list.h"

#include "publish.h"

extern void webflow_send_changes(List *changes, PassOptions *opts);

#endif							/* WEBFLOW_SEND_H */
