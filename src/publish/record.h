/*-------------------------------------------------------------------------
 *
 * record.h
 *		Writing down how the changes of a pass ended (record.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBFLOW_RECORD_H
#define WEBFLOW_RECORD_H

#include "postgres.h"

#include "nodes/pg_list.h"

extern int64 webflow_record_pass(List *changes);

#endif							/* WEBFLOW_RECORD_H */
