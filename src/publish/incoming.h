/*-------------------------------------------------------------------------
 *
 * incoming.h
 *		Taking the publish trigger's rows into webflow.outbox.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBFLOW_INCOMING_H
#define WEBFLOW_INCOMING_H

#include "postgres.h"

extern uint64 webflow_take_incoming(void);
extern void webflow_shrink_incoming(void);

#endif							/* WEBFLOW_INCOMING_H */
