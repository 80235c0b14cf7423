/*-------------------------------------------------------------------------
 *
 * connection.c
 *		Named Webflow connections, held the way PostgreSQL holds remote
 *		credentials (SQL/MED, as postgres_fdw and dblink do):
 *
 *		CREATE SERVER careers FOREIGN DATA WRAPPER webflow
 *			OPTIONS (api_url 'https://api.webflow.com/v2');
 *		CREATE USER MAPPING FOR alice SERVER careers OPTIONS (token '...');
 *		SET webflow.connection = 'careers';
 *
 * A session's API calls use the connection named by webflow.connection
 * (empty: the default one, made of webflow.api_url and webflow.token),
 * with the token of the current user's mapping, or PUBLIC's.  Using a
 * server needs USAGE on it and a mapping, as for postgres_fdw; the
 * mapping's options are readable only as pg_user_mappings allows (the
 * mapping's user with USAGE on the server, the server's owner, superusers).
 * A token never appears in an error of ours.
 *
 * The validator of the wrapper refuses unknown options and bad values:
 * a server's api_url is checked as webflow.api_url is (https, or http
 * for loopback only), and only a superuser may name a token_file (the
 * server reads it).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/reloptions.h"
#include "catalog/pg_foreign_data_wrapper.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_foreign_table.h"
#include "catalog/pg_user_mapping.h"
#include "commands/defrem.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "compat.h"
#include "connection.h"
#include "token.h"
#include "webflow.h"

PG_FUNCTION_INFO_V1(webflow_connection_validator);

/* Set in the publish pipeline's workers: they use the default connection. */
static bool default_only = false;

/* Set while the extension reads what every role trusts (a schema). */
static bool forced_default = false;

static void validate_server_option(DefElem *def);
static void validate_mapping_option(DefElem *def, bool *has_token);
static void apply_server(ForeignServer *server, WebflowConnection *conn);
static void apply_mapping(ForeignServer *server, Oid role, WebflowConnection *conn);

/* validate_server_option checks one option of CREATE/ALTER SERVER. */
static void
validate_server_option(DefElem *def)
{
	char	   *value = defGetString(def);

	if (strcmp(def->defname, "api_url") == 0)
	{
		const char *hint = NULL;
		const char *problem = webflow_api_url_problem(value, &hint);

		if (problem != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("invalid api_url for a webflow server: \"%s\"", value),
					 errdetail("%s", problem),
					 hint ? errhint("%s", hint) : 0));
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
				 errmsg("invalid option \"%s\" for a webflow server", def->defname),
				 errhint("A webflow server takes api_url; the token goes into a user mapping.")));
}

/* validate_mapping_option checks one option of CREATE/ALTER USER MAPPING. */
static void
validate_mapping_option(DefElem *def, bool *has_token)
{
	char	   *value = defGetString(def);

	if (strcmp(def->defname, "token") == 0)
	{
		const char *problem = webflow_token_problem(value);

		/* (never the value itself: it is a secret) */
		if (problem != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("invalid token for a webflow user mapping: %s", problem),
					 errhint("Give the token exactly as Webflow shows it.")));
	}
	else if (strcmp(def->defname, "token_file") == 0)
	{
		if (!superuser())
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("only a superuser may set token_file of a webflow user mapping"),
					 errdetail("The server reads the file with its own rights."),
					 errhint("Give the token itself in the token option, or ask a superuser to set token_file.")));
		if (!is_absolute_path(value))
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("token_file of a webflow user mapping must be an absolute path: \"%s\"", value)));
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
				 errmsg("invalid option \"%s\" for a webflow user mapping", def->defname),
				 errhint("A webflow user mapping takes token or token_file.")));
	if (*has_token)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
				 errmsg("a webflow user mapping takes token or token_file, not both")));
	*has_token = true;
}

/*
 * webflow_connection_validator(options text[], catalog oid) is the
 * validator of the webflow foreign-data wrapper.
 */
Datum
webflow_connection_validator(PG_FUNCTION_ARGS)
{
	List	   *options = untransformRelOptions(PG_GETARG_DATUM(0));
	Oid			catalog = PG_GETARG_OID(1);
	ListCell   *lc;
	bool		has_token = false;

	if (catalog == ForeignTableRelationId || catalog == AttributeRelationId)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_HANDLE),
				 errmsg("webflow servers have no foreign tables"),
				 errhint("Use the webflow.* functions with SET webflow.connection.")));
	foreach(lc, options)
	{
		DefElem    *def = lfirst(lc);

		if (catalog == ForeignServerRelationId)
			validate_server_option(def);
		else if (catalog == UserMappingRelationId)
			validate_mapping_option(def, &has_token);
		else
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
					 errmsg("invalid option \"%s\" for the webflow foreign-data wrapper", def->defname),
					 errhint("Options go to its servers (api_url) and user mappings (token or token_file).")));
	}
	if (catalog == UserMappingRelationId && !has_token)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("a webflow user mapping needs a token"),
				 errhint("CREATE USER MAPPING FOR ... SERVER ... OPTIONS (token '...'), or token_file '/path' (superusers).")));
	PG_RETURN_VOID();
}

/* apply_server takes a server's api_url (default: the setting). */
static void
apply_server(ForeignServer *server, WebflowConnection *conn)
{
	ListCell   *lc;

	foreach(lc, server->options)
	{
		DefElem    *def = lfirst(lc);

		if (strcmp(def->defname, "api_url") == 0)
			conn->api_url = defGetString(def);
	}
}

/*
 * apply_mapping takes the token of role's user mapping for the server (or
 * PUBLIC's), refusing a role that may not use the server or has no
 * mapping.
 */
static void
apply_mapping(ForeignServer *server, Oid role, WebflowConnection *conn)
{
	UserMapping *um;
	ListCell   *lc;

	if (webflow_server_aclcheck(server->serverid, role, ACL_USAGE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for webflow connection \"%s\"", server->servername),
				 errhint("A superuser or the server's owner can GRANT USAGE ON FOREIGN SERVER %s TO %s.",
						 quote_identifier(server->servername),
						 quote_identifier(GetUserNameFromId(role, false)))));
	if (!SearchSysCacheExists2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(role),
							   ObjectIdGetDatum(server->serverid)) &&
		!SearchSysCacheExists2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(InvalidOid),
							   ObjectIdGetDatum(server->serverid)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("no token for role \"%s\" on webflow connection \"%s\"",
						GetUserNameFromId(role, false), server->servername),
				 errhint("CREATE USER MAPPING FOR %s SERVER %s OPTIONS (token '...'), or one FOR PUBLIC.",
						 quote_identifier(GetUserNameFromId(role, false)),
						 quote_identifier(server->servername))));
	um = GetUserMapping(role, server->serverid);
	foreach(lc, um->options)
	{
		DefElem    *def = lfirst(lc);
		char	   *problem = NULL;

		if (strcmp(def->defname, "token") == 0)
			conn->token = defGetString(def);
		else if (strcmp(def->defname, "token_file") == 0)
		{
			/*
			 * The server reads the file with its own rights: only for a
			 * server a superuser owns, since its owner decides where the
			 * token goes (api_url).
			 */
			if (!superuser_arg(server->owner))
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("webflow connection \"%s\" may not use a token_file", server->servername),
						 errdetail("Its owner is not a superuser, and a server's owner decides where its tokens are sent."),
						 errhint("Give the user mapping a token instead, or let a superuser own the server.")));
			conn->token = webflow_read_token_file(defGetString(def), &problem);
			conn->problem = problem;
		}
	}
	if (conn->token != NULL && (conn->problem = webflow_token_problem(conn->token)) != NULL)
		conn->token = NULL;
}

/*
 * webflow_connection_resolve fills *conn for the connection of that name
 * ("" or NULL: the default one) as role would use it.  A missing server,
 * a role without USAGE on it or without a user mapping is an error; a
 * missing token is left to the caller (conn->token NULL, conn->problem).
 */
void
webflow_connection_resolve(const char *name, Oid role, WebflowConnection *conn)
{
	ForeignServer *server;
	char	   *problem = NULL;

	memset(conn, 0, sizeof(*conn));
	conn->name = name ? name : "";
	conn->api_url = webflow_api_url ? webflow_api_url : WEBFLOW_DEFAULT_API_URL;
	if (name == NULL || name[0] == '\0')
	{
		conn->token = webflow_api_token(&problem);
		conn->problem = problem;
		return;
	}
	server = GetForeignServerByName(name, true);
	if (server == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("webflow connection \"%s\" does not exist", name),
				 errhint("A connection is a foreign server: CREATE SERVER %s FOREIGN DATA WRAPPER webflow; or RESET webflow.connection for the default one.",
						 quote_identifier(name))));
	if (strcmp(GetForeignDataWrapper(server->fdwid)->fdwname, "webflow") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("foreign server \"%s\" is not a webflow connection", name),
				 errdetail("Its foreign-data wrapper is not webflow.")));
	apply_server(server, conn);
	apply_mapping(server, role, conn);
	if (conn->token == NULL && conn->problem == NULL)
		conn->problem = "the user mapping has no token";
}

/*
 * webflow_connection_current fills *conn for the connection the current
 * request uses: the session's webflow.connection as the current user.
 * The default connection instead
 *	- in the extension's background workers, and while the extension asks
 *	  for it (schema reads, whose answers every role's publishing trusts);
 *	- inside a security-restricted operation, where the extension works as
 *	  its owner (bind, sync, verify), so that no role's setting picks the
 *	  owner's user mapping;
 *	- inside a SECURITY DEFINER function (the current user is not the
 *	  session's role), so that a caller's setting cannot pick which of the
 *	  function owner's user mappings is used.
 */
void
webflow_connection_current(WebflowConnection *conn)
{
	if (default_only || forced_default || InSecurityRestrictedOperation() ||
		GetUserId() != GetOuterUserId())
		webflow_connection_resolve("", GetUserId(), conn);
	else
		webflow_connection_resolve(webflow_connection_name, GetUserId(), conn);
}

/*
 * webflow_connection_default_only makes every request of this process use
 * the default connection (the publish pipeline's workers, for now).
 */
void
webflow_connection_default_only(void)
{
	default_only = true;
}

/*
 * webflow_connection_force_default makes (true) or stops making (false)
 * the requests of this process use the default connection, and returns
 * the previous state; callers restore it in PG_FINALLY.
 */
bool
webflow_connection_force_default(bool force)
{
	bool		was = forced_default;

	forced_default = force;
	return was;
}
