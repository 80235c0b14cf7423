/*-------------------------------------------------------------------------
 *
 * row_image.h
 *		The row image of the publish trigger (to_jsonb of a row, with the
 *		columns' conversions worked out once).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBFLOW_ROW_IMAGE_H
#define WEBFLOW_ROW_IMAGE_H

#include "postgres.h"

#include "access/htup.h"
#include "access/tupdesc.h"
#include "utils/jsonb.h"

typedef struct WebflowRowImage WebflowRowImage;

extern WebflowRowImage *webflow_row_image_prepare(TupleDesc desc, MemoryContext cxt);
extern Jsonb *webflow_row_image(WebflowRowImage *ri, HeapTuple tuple, TupleDesc desc);

#endif							/* WEBFLOW_ROW_IMAGE_H */
