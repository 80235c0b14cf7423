/*-------------------------------------------------------------------------
 *
 * value_parse.h
 *		The value formats Webflow fields take (value_parse.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBFLOW_VALUE_PARSE_H
#define WEBFLOW_VALUE_PARSE_H

#include "postgres.h"

#include "utils/jsonb.h"
#include "utils/numeric.h"

/* Length of a Webflow object id (24 hexadecimal characters). */
#define WEBFLOW_ID_LEN 24

extern bool webflow_iso_utc(const char *s, int len, bool strict, char *out);
extern bool webflow_value_as_bool(JsonbValue *v, bool *result);
extern char *webflow_value_as_text(JsonbValue *v, int *len);
extern Numeric webflow_value_as_numeric(JsonbValue *v);
extern bool webflow_valid_color(const char *s, int len);
extern bool webflow_is_object_id(const char *s);

#endif							/* WEBFLOW_VALUE_PARSE_H */
