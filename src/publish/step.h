/*-------------------------------------------------------------------------
 *
 * step.h
 *		The short transactions of a pass (step.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBFLOW_STEP_H
#define WEBFLOW_STEP_H

#include "postgres.h"

#include "publish.h"

extern void webflow_pass_settings(void);
extern void webflow_step_begin(PassOptions *opts);
extern void webflow_step_end(PassOptions *opts);

#endif							/* WEBFLOW_STEP_H */
