/*-------------------------------------------------------------------------
 *
 * jsonb_util.h
 *		Small helpers for reading and writing jsonb values from C.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBFLOW_JSONB_UTIL_H
#define WEBFLOW_JSONB_UTIL_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "lib/stringinfo.h"
#include "utils/jsonb.h"

extern Jsonb *webflow_jsonb_try_parse(const char *text);
extern JsonbValue *webflow_jsonb_get(Jsonb *jb, const char *key);
extern JsonbValue *webflow_jsonb_container_get(JsonbContainer *container,
											   const char *key);
extern char *webflow_jsonb_value_text(JsonbValue *v);
extern Jsonb *webflow_jsonb_from_value(JsonbValue *v);
extern char *webflow_jsonb_string(JsonbValue *v);
extern int	webflow_jsonb_array_size(JsonbValue *v);
extern JsonbValue *webflow_jsonb_array_element(JsonbValue *v, int i);
extern bool webflow_jsonb_is_object(JsonbValue *v);
extern const char *webflow_jsonb_type_name(JsonbValue *v);
extern JsonbValue *webflow_jsonb_root(Jsonb *jb, JsonbValue *out);
extern char *webflow_jsonb_excerpt(JsonbValue *v, int max_chars);
extern void webflow_jsonb_put_key(JsonbParseState **st, const char *key);
extern void webflow_jsonb_put_string(JsonbParseState **st, const char *key,
									 const char *value);
extern void webflow_jsonb_put_int(JsonbParseState **st, const char *key,
								  int64 value, bool isnull);
extern void webflow_jsonb_put_bool(JsonbParseState **st, const char *key, bool value);
extern void webflow_jsonb_put_value(JsonbParseState **st, const char *key,
									JsonbValue *value);
extern void webflow_jsonb_put_time(JsonbParseState **st, const char *key, TimestampTz t);
extern Jsonb *webflow_jsonb_finish(JsonbParseState **st, bool array);
extern void webflow_body_begin(JsonbParseState **st, const char *list);
extern void webflow_body_push_id(JsonbParseState **st, const char *id);
extern char *webflow_body_end(JsonbParseState **st);

#endif							/* WEBFLOW_JSONB_UTIL_H */
