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
 * for loopback only), its rate_limit (requests per minute, default
 * webflow.rate_limit) is a number in webflow.rate_limit's range, and only
 * a superuser may name a token_file (the server reads it).
 *
 * The publish pipeline sends each binding's changes over the binding's
 * connection, with the token of the mapping of the role that bound the
 * table (looked up at every pass, so a changed mapping counts at once),
 * pinned for the request with webflow_connection_pin.
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
#include "common/hashfn.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "compat.h"
#include "connection.h"
#include "run_as.h"
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
static bool refuse(ConnectionRefusal *why, int sqlstate, char *message,
				   char *detail, char *hint);
static bool mapping_usable(ForeignServer *server, Oid role, ConnectionRefusal *why);
static bool apply_mapping(ForeignServer *server, Oid role, WebflowConnection *conn,
						  ConnectionRefusal *why);

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
	else if (strcmp(def->defname, "rate_limit") == 0)
	{
		char	   *end;
		long		n;

		errno = 0;
		n = strtol(value, &end, 10);
		if (errno != 0 || end == value || *end != '\0' || n < 1 || n > WEBFLOW_MAX_RATE_LIMIT)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_INVALID_ATTRIBUTE_VALUE),
					 errmsg("invalid rate_limit for a webflow server: \"%s\"", value),
					 errdetail("It is a number of requests per minute, from 1 to %d.", WEBFLOW_MAX_RATE_LIMIT),
					 errhint("Webflow allows 60 (Starter, Basic) or 120 (CMS, Business) requests per minute and token.")));
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
				 errmsg("invalid option \"%s\" for a webflow server", def->defname),
				 errhint("A webflow server takes api_url and rate_limit; the token goes into a user mapping.")));
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

/* apply_server takes a server's api_url and rate_limit (default: the settings). */
static void
apply_server(ForeignServer *server, WebflowConnection *conn)
{
	ListCell   *lc;

	foreach(lc, server->options)
	{
		DefElem    *def = lfirst(lc);

		if (strcmp(def->defname, "api_url") == 0)
			conn->api_url = defGetString(def);
		else if (strcmp(def->defname, "rate_limit") == 0)
			conn->rate_limit = pg_strtoint32(defGetString(def));
	}
}

/*
 * refuse fills *why with the error a connection cannot be used with, and
 * returns false (for the callers' one-line returns).
 */
static bool
refuse(ConnectionRefusal *why, int sqlstate, char *message, char *detail, char *hint)
{
	why->sqlstate = sqlstate;
	why->message = message;
	why->detail = detail;
	why->hint = hint;
	return false;
}

/*
 * mapping_usable checks that role may use the server and has a user
 * mapping for it (its own or PUBLIC's); else *why says what is missing.
 */
static bool
mapping_usable(ForeignServer *server, Oid role, ConnectionRefusal *why)
{
	const char *rolename;

	if (!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(role)))
		return refuse(why, ERRCODE_UNDEFINED_OBJECT,
					  psprintf("the role (OID %u) that uses webflow connection \"%s\" no longer exists",
							   role, server->servername),
					  NULL,
					  pstrdup("Bind the table again as an existing role."));
	rolename = quote_identifier(GetUserNameFromId(role, false));
	if (webflow_server_aclcheck(server->serverid, role, ACL_USAGE) != ACLCHECK_OK)
		return refuse(why, ERRCODE_INSUFFICIENT_PRIVILEGE,
					  psprintf("permission denied for webflow connection \"%s\"", server->servername),
					  NULL,
					  psprintf("A superuser or the server's owner can GRANT USAGE ON FOREIGN SERVER %s TO %s.",
							   quote_identifier(server->servername), rolename));
	if (!SearchSysCacheExists2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(role),
							   ObjectIdGetDatum(server->serverid)) &&
		!SearchSysCacheExists2(USERMAPPINGUSERSERVER, ObjectIdGetDatum(InvalidOid),
							   ObjectIdGetDatum(server->serverid)))
		return refuse(why, ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION,
					  psprintf("no token for role \"%s\" on webflow connection \"%s\"",
							   GetUserNameFromId(role, false), server->servername),
					  NULL,
					  psprintf("CREATE USER MAPPING FOR %s SERVER %s OPTIONS (token '...'), or one FOR PUBLIC.",
							   rolename, quote_identifier(server->servername)));
	return true;
}

/*
 * apply_mapping takes the token of role's user mapping for the server (or
 * PUBLIC's); false, with *why, when the mapping may not be used.
 */
static bool
apply_mapping(ForeignServer *server, Oid role, WebflowConnection *conn,
			  ConnectionRefusal *why)
{
	UserMapping *um;
	ListCell   *lc;

	if (!mapping_usable(server, role, why))
		return false;
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
				return refuse(why, ERRCODE_INSUFFICIENT_PRIVILEGE,
							  psprintf("webflow connection \"%s\" may not use a token_file", server->servername),
							  pstrdup("Its owner is not a superuser, and a server's owner decides where its tokens are sent."),
							  pstrdup("Give the user mapping a token instead, or let a superuser own the server."));
			conn->token = webflow_read_token_file(defGetString(def), &problem);
			/* (the file's cached token is replaced when another file is read) */
			if (conn->token != NULL)
				conn->token = pstrdup(conn->token);
			conn->problem = problem;
		}
	}
	if (conn->token != NULL && (conn->problem = webflow_token_problem(conn->token)) != NULL)
		conn->token = NULL;
	return true;
}

/*
 * webflow_connection_lookup fills *conn for the connection of that name
 * ("" or NULL: the default one) as role would use it, and returns true;
 * or false, with *why, when there is no such connection or role may not
 * use it (no USAGE on the server, no user mapping).  It raises no error of
 * its own, so that the publish pipeline can make the rows of a binding
 * wait.  A missing token is left to the caller (conn->token NULL,
 * conn->problem).
 */
bool
webflow_connection_lookup(const char *name, Oid role, WebflowConnection *conn,
						  ConnectionRefusal *why)
{
	ForeignServer *server;
	char	   *problem = NULL;

	memset(conn, 0, sizeof(*conn));
	memset(why, 0, sizeof(*why));
	conn->name = name ? name : "";
	conn->api_url = webflow_api_url ? webflow_api_url : WEBFLOW_DEFAULT_API_URL;
	conn->rate_limit = webflow_rate_limit;
	if (name == NULL || name[0] == '\0')
	{
		conn->token = webflow_api_token(&problem);
		conn->problem = problem;
		if (conn->token != NULL)
			conn->token = pstrdup(conn->token);
		return true;
	}
	server = GetForeignServerByName(name, true);
	if (server == NULL)
		return refuse(why, ERRCODE_UNDEFINED_OBJECT,
					  psprintf("webflow connection \"%s\" does not exist", name),
					  NULL,
					  psprintf("A connection is a foreign server: CREATE SERVER %s FOREIGN DATA WRAPPER webflow; or RESET webflow.connection for the default one.",
							   quote_identifier(name)));
	if (strcmp(GetForeignDataWrapper(server->fdwid)->fdwname, "webflow") != 0)
		return refuse(why, ERRCODE_WRONG_OBJECT_TYPE,
					  psprintf("foreign server \"%s\" is not a webflow connection", name),
					  pstrdup("Its foreign-data wrapper is not webflow."), NULL);
	apply_server(server, conn);
	conn->server_owner = server->owner;
	if (!apply_mapping(server, role, conn, why))
		return false;
	if (conn->token == NULL && conn->problem == NULL)
		conn->problem = "the user mapping has no token";
	return true;
}

/*
 * webflow_connection_resolve is webflow_connection_lookup that raises the
 * error when the connection cannot be used.
 */
void
webflow_connection_resolve(const char *name, Oid role, WebflowConnection *conn)
{
	ConnectionRefusal why;

	if (!webflow_connection_lookup(name, role, conn, &why))
		ereport(ERROR,
				(errcode(why.sqlstate),
				 errmsg("%s", why.message),
				 why.detail ? errdetail("%s", why.detail) : 0,
				 why.hint ? errhint("%s", why.hint) : 0));
}

/*
 * webflow_connection_key identifies a connection's rate budget: Webflow
 * limits requests per token, so connections that send the same token
 * share one budget.  Never 0 (a free budget's key).
 */
uint64
webflow_connection_key(const WebflowConnection *conn)
{
	const char *url = conn->api_url ? conn->api_url : "";
	const char *name = conn->name ? conn->name : "";
	uint64		key;

	/*
	 * Webflow counts per token, whatever URL names its API: one budget per
	 * token.  With no token, a budget per connection, to hold its pause.
	 */
	if (conn->token != NULL)
		key = hash_bytes_extended((const unsigned char *) conn->token, strlen(conn->token), 0);
	else
		key = hash_bytes_extended((const unsigned char *) name, strlen(name), 2) ^
			(hash_bytes_extended((const unsigned char *) url, strlen(url), 1) << 1);
	return key == 0 ? 1 : key;
}

/*
 * webflow_connection_pin makes the requests the current user makes next
 * use conn (NULL: stop), and returns the previous pin for
 * webflow_connection_unpin.  The publish pipeline pins the connection of
 * the binding whose request it sends; bind(), verify() and sync() the
 * binding's connection while they work as the extension owner.  The pin
 * holds for that user in that run_as frame only (run_as.c): code that runs
 * as another role (a table owner's casts and type I/O while its rows are
 * read, and what it calls, SECURITY DEFINER functions included) does not
 * get it; an abort of the (sub)transaction it was made in drops it.
 */
WebflowPin
webflow_connection_pin(const WebflowConnection *conn)
{
	return webflow_pin_set(conn);
}

/* webflow_connection_unpin puts back the pin webflow_connection_pin returned. */
void
webflow_connection_unpin(WebflowPin was)
{
	webflow_pin_restore(was);
}

/*
 * webflow_connection_current fills *conn for the connection the current
 * request uses: the session's webflow.connection as the current user.
 * The connection the publish pipeline pinned, if any (see
 * webflow_connection_pin).  The default connection instead
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
	if (webflow_pin_current() != NULL)
		*conn = *(const WebflowConnection *) webflow_pin_current();
	else if (default_only || forced_default || InSecurityRestrictedOperation() ||
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
