/*-------------------------------------------------------------------------
 *
 * sql_version.h
 *		Which versions of the extension's SQL this library runs.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBFLOW_SQL_VERSION_H
#define WEBFLOW_SQL_VERSION_H

#include "postgres.h"

extern char *webflow_sql_version(void);
extern bool webflow_sql_version_known(const char *version);
extern void webflow_require_known_sql_version(void);
extern bool webflow_sql_has_collection_owners(void);
extern bool webflow_sql_has_table(const char *name);
extern Oid	webflow_extension_table(const char *name);

#endif							/* WEBFLOW_SQL_VERSION_H */
