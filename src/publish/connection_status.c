/*-------------------------------------------------------------------------
 *
 * connection_status.c
 *		What each connection's request budget looks like now: its rate
 *		limit, its use in the current minute, the server's own figures, and
 *		whether and why it is paused.  webflow.connections() lists them;
 *		webflow.worker_status() carries them as JSON, and webflow.status
 *		shows each binding's.
 *
 * A budget belongs to a token (see ratelimit.c) and is named after the
 * connection that used it last; no token is ever shown.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "binding.h"
#include "compat.h"
#include "connection_status.h"
#include "jsonb_util.h"
#include "ratelimit.h"
#include "run_as.h"
#include "shmem.h"

PG_FUNCTION_INFO_V1(webflow_connections);
PG_FUNCTION_INFO_V1(webflow_binding_budget);

#define CONNECTIONS_COLUMNS 9

static int	minute_use(const WebflowBudget *b, TimestampTz now);
static bool binding_budget_of(int32 binding_id, WebflowBudget *copy, char **why);

/* minute_use counts the budget's requests in the minute that ends now. */
static int
minute_use(const WebflowBudget *b, TimestampTz now)
{
	return now - b->minute_start < 60 * USECS_PER_SEC ? b->minute_requests : 0;
}

/*
 * webflow_push_budgets adds every budget in use to a JSON object under
 * key, as an array of objects.
 */
void
webflow_push_budgets(JsonbParseState **st, const char *key)
{
	WebflowBudget *budgets;
	int			n = webflow_budgets_copy(&budgets);
	TimestampTz now = GetCurrentTimestamp();
	int			i;

	webflow_jsonb_put_key(st, key);
	pushJsonbValue(st, WJB_BEGIN_ARRAY, NULL);
	for (i = 0; i < n; i++)
	{
		WebflowBudget *b = &budgets[i];

		pushJsonbValue(st, WJB_BEGIN_OBJECT, NULL);
		webflow_jsonb_put_string(st, "connection", b->name);
		webflow_jsonb_put_int(st, "rateLimit", b->rate_limit, false);
		webflow_jsonb_put_int(st, "requests", b->requests, false);
		webflow_jsonb_put_int(st, "requestsLastMinute", minute_use(b, now), false);
		webflow_jsonb_put_int(st, "serverRateLimit", b->server_limit, b->server_limit < 0);
		webflow_jsonb_put_int(st, "serverRemaining", b->server_remaining, b->server_remaining < 0);
		webflow_jsonb_put_time(st, "pausedUntil", b->paused_until > now ? b->paused_until :
							   b->auth_paused ? b->auth_probe_at : 0);
		webflow_jsonb_put_string(st, "pausedBecause", webflow_budget_pause_reason(b, now));
		webflow_jsonb_put_time(st, "lastUsed", b->last_used);
		pushJsonbValue(st, WJB_END_OBJECT, NULL);
	}
	pushJsonbValue(st, WJB_END_ARRAY, NULL);
	pfree(budgets);
}

/*
 * webflow.connections() lists the request budget of every connection in
 * use: connection, rate_limit, requests, requests_last_minute,
 * server_rate_limit, server_remaining, paused_until, paused_because,
 * last_used.
 */
Datum
webflow_connections(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	WebflowBudget *budgets;
	int			n;
	int			i;
	TimestampTz now = GetCurrentTimestamp();

	InitMaterializedSRF(fcinfo, 0);
	n = webflow_budgets_copy(&budgets);
	for (i = 0; i < n; i++)
	{
		WebflowBudget *b = &budgets[i];
		Datum		values[CONNECTIONS_COLUMNS];
		bool		nulls[CONNECTIONS_COLUMNS] = {0};
		const char *why = webflow_budget_pause_reason(b, now);
		TimestampTz until = b->paused_until > now ? b->paused_until :
			b->auth_paused ? b->auth_probe_at : 0;

		values[0] = CStringGetTextDatum(b->name);
		values[1] = Int32GetDatum(b->rate_limit);
		values[2] = Int64GetDatum(b->requests);
		values[3] = Int32GetDatum(minute_use(b, now));
		values[4] = Int32GetDatum(b->server_limit);
		nulls[4] = b->server_limit < 0;
		values[5] = Int32GetDatum(b->server_remaining);
		nulls[5] = b->server_remaining < 0;
		values[6] = TimestampTzGetDatum(until);
		nulls[6] = until == 0;
		values[7] = why ? CStringGetTextDatum(why) : (Datum) 0;
		nulls[7] = why == NULL;
		values[8] = TimestampTzGetDatum(b->last_used);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * binding_budget_of finds the budget a binding publishes with: its
 * connection's token as the role that bound it uses it (the default
 * connection's by name, whatever token this session would send); *why is
 * set instead when that role may not use the connection now.
 */
static bool
binding_budget_of(int32 binding_id, WebflowBudget *copy, char **why)
{
	Binding    *b;
	bool		found = false;
	WebflowRunAs ra;

	*why = NULL;
	SPI_connect();
	/* (the binding is read as the extension owner: fixed SQL, no user code) */
	webflow_run_as_begin(&ra, webflow_extension_owner());
	b = webflow_load_binding(webflow_binding_table(CurrentMemoryContext), binding_id,
							 CurrentMemoryContext);
	webflow_run_as_end(&ra);
	if (b != NULL && b->conn_refusal != NULL)
		*why = pstrdup(b->conn_refusal);
	else if (b != NULL)
		found = b->conn.name[0] == '\0' ? webflow_budget_report("", copy) :
			webflow_budget_report_of(&b->conn, copy);
	SPI_finish();
	return found;
}

/*
 * webflow.binding_budget(binding_id) is the budget a binding publishes
 * with, for webflow.status: rate_limit, requests_last_minute,
 * paused_until, paused_because (or why its connection cannot be used).
 */
Datum
webflow_binding_budget(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	Datum		values[4] = {0};
	bool		nulls[4] = {true, true, true, true};
	WebflowBudget b;
	char	   *why;
	TimestampTz now = GetCurrentTimestamp();

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "webflow.binding_budget must return a record");
	desc = BlessTupleDesc(desc);
	if (binding_budget_of(PG_GETARG_INT32(0), &b, &why))
	{
		const char *reason = webflow_budget_pause_reason(&b, now);
		TimestampTz until = b.paused_until > now ? b.paused_until :
			b.auth_paused ? b.auth_probe_at : 0;

		values[0] = Int32GetDatum(b.rate_limit);
		values[1] = Int32GetDatum(minute_use(&b, now));
		values[2] = TimestampTzGetDatum(until);
		values[3] = reason ? CStringGetTextDatum(reason) : (Datum) 0;
		nulls[0] = nulls[1] = false;
		nulls[2] = until == 0;
		nulls[3] = reason == NULL;
	}
	else if (why != NULL)
	{
		values[3] = CStringGetTextDatum(why);
		nulls[3] = false;
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
