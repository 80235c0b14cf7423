/*-------------------------------------------------------------------------
 *
 * token.c
 *		The API token, from webflow.token or from the file named by
 *		webflow.token_file.
 *
 * A token set in postgresql.conf is written to the server log by
 * PostgreSQL itself when a reload changes it ("parameter ... changed
 * to ..."), and ALTER SYSTEM statements may be logged too.  A token file
 * keeps the secret out of every setting: only its path is configured.
 * The file is read again whenever its modification time or size changes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>

#include "storage/fd.h"
#include "utils/memutils.h"

#include "token.h"
#include "webflow.h"

/* the token read from the file, and what the file looked like then */
static char *file_token = NULL;
static char *file_path = NULL;
static time_t file_mtime = 0;
static off_t file_size = -1;

/* Longest token file we read. */
#define MAX_TOKEN_FILE 4096


/*
 * webflow_read_token_file returns the token in path (first line, surrounding white
 * space removed), from cache when the file did not change.  On failure it
 * returns NULL and says why, without the file's contents.
 */
const char *
webflow_read_token_file(const char *path, char **problem)
{
	struct stat st;
	FILE	   *f;
	char		buf[MAX_TOKEN_FILE + 1];
	size_t		n;
	char	   *start;
	char	   *end;

	if (stat(path, &st) != 0)
	{
		*problem = psprintf("could not stat webflow.token_file \"%s\": %m", path);
		return NULL;
	}
	if (file_token != NULL && file_path != NULL && strcmp(file_path, path) == 0 &&
		st.st_mtime == file_mtime && st.st_size == file_size)
		return file_token;

	f = AllocateFile(path, "r");
	if (f == NULL)
	{
		*problem = psprintf("could not open webflow.token_file \"%s\": %m", path);
		return NULL;
	}
	n = fread(buf, 1, MAX_TOKEN_FILE, f);
	FreeFile(f);
	buf[n] = '\0';
	start = buf;
	while (*start == ' ' || *start == '\t' || *start == '\r' || *start == '\n')
		start++;
	end = start + strcspn(start, "\r\n");
	while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*end = '\0';
	if (*start == '\0')
	{
		*problem = psprintf("webflow.token_file \"%s\" holds no token", path);
		return NULL;
	}

	if (file_token != NULL)
		pfree(file_token);
	if (file_path != NULL)
		pfree(file_path);
	file_token = MemoryContextStrdup(TopMemoryContext, start);
	file_path = MemoryContextStrdup(TopMemoryContext, path);
	file_mtime = st.st_mtime;
	file_size = st.st_size;
	explicit_bzero(buf, sizeof(buf));
	return file_token;
}

/*
 * webflow_api_token returns the token to send: webflow.token when set,
 * else the contents of webflow.token_file.  It returns NULL, with the
 * reason in *problem, when there is none.
 */
const char *
webflow_api_token(char **problem)
{
	*problem = NULL;
	if (webflow_token != NULL && webflow_token[0] != '\0')
		return webflow_token;
	if (webflow_token_file != NULL && webflow_token_file[0] != '\0')
		return webflow_read_token_file(webflow_token_file, problem);
	*problem = pstrdup("webflow.token is not set");
	return NULL;
}

/* webflow_token_problem says why a token cannot be sent (NULL: it can). */
const char *
webflow_token_problem(const char *token)
{
	if (token[0] == '\0')
		return "the token is empty";
	for (const char *p = token; *p; p++)
		if ((unsigned char) *p < 0x21 || (unsigned char) *p > 0x7e)
			return "the token contains a character that cannot be sent in an HTTP header";
	return NULL;
}
