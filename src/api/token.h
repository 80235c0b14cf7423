/*-------------------------------------------------------------------------
 *
 * token.h
 *		Where the API token comes from: webflow.token, or the file named by
 *		webflow.token_file.
 *
 *-------------------------------------------------------------------------
 */
#ifndef WEBFLOW_TOKEN_H
#define WEBFLOW_TOKEN_H

#include "postgres.h"

extern const char *webflow_api_token(char **problem);
extern const char *webflow_read_token_file(const char *path, char **problem);
extern const char *webflow_token_problem(const char *token);

#endif							/* WEBFLOW_TOKEN_H */
