/*-------------------------------------------------------------------------
 *
 * ratelimit.c
 *		The request budget of each connection, shared by the background
 *		worker and every session that drains the outbox.
 *
 * Webflow limits requests per token, so a budget belongs to a token (and
 * API URL): connections that send the same token share one, and a changed
 * token starts afresh.  Shared memory holds webflow.max_connections
 * budgets; when they are all in use, the least recently used one is
 * taken over.
 *
 * Requests are spaced evenly: a rate_limit of R per minute (the server's
 * option, default webflow.rate_limit) means one request every 60/R
 * seconds, with no burst beyond one request after an idle spell.  That
 * keeps any one-minute window, fixed or rolling, within the limit.  On top
 * of that, for that budget only:
 *	- a 429 stops sending until its Retry-After (60 s when absent);
 *	- X-RateLimit-Remaining: 0 holds the next request back by the server's
 *	  own spacing (60 s / X-RateLimit-Limit);
 *	- a 401 or 403 pauses the budget until the token changes, a reload, a
 *	  superuser's webflow.retry(), or a probe (backing off up to 10 min),
 *	  so that attempts are not burnt on a bad token.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "miscadmin.h"
#include "storage/latch.h"
#include "storage/spin.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "ratelimit.h"
#include "shmem.h"
#include "webflow.h"

/* Longest wait between two probes of a budget paused by a 401/403. */
#define AUTH_PROBE_MAX_S ((double) WEBFLOW_LONGEST_PAUSE_S)
/* Shortest wait before the first probe. */
#define AUTH_PROBE_MIN_S 10
/* Longest wait a 429's Retry-After can impose. */
#define RETRY_AFTER_MAX_S 300
/* Longest wait of changes after a failed read. */
#define OUTAGE_DELAY_MAX_S 60.0
/*
 * Shortest pause of a connection whose request got no answer: one worker
 * sends one request at a time, so a site that hangs costs the others up to
 * one webflow.timeout per pause.
 */
#define OUTAGE_PAUSE_MIN_S 10.0

static uint32 wait_event_rate = 0;

static void sleep_until(TimestampTz until);
static bool rate_acquire(const WebflowConnection *conn, int max_wait_ms);
static bool auth_paused(const WebflowConnection *conn);
static bool budget_evictable(const WebflowBudget *b, TimestampTz now);
static WebflowBudget *budget_find(WebflowShared *s, uint64 key);
static WebflowBudget *budget_shared(WebflowShared *s, uint64 key);
static WebflowBudget *budget_of(WebflowShared *s, const WebflowConnection *conn);
static WebflowBudget *budget_named(WebflowShared *s, const char *name);

/* sleep_until waits, interruptibly, until the given time. */
static void
sleep_until(TimestampTz until)
{
	for (;;)
	{
		TimestampTz now = GetCurrentTimestamp();
		long		ms;

		CHECK_FOR_INTERRUPTS();
		if (now >= until)
			return;
		ms = (long) ((until - now + 999) / 1000);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 ms, WEBFLOW_WAIT_EVENT(wait_event_rate, "WebflowRateLimit"));
		ResetLatch(MyLatch);
	}
}

/*
 * budget_evictable says whether a budget in use may be given to another
 * token: it is neither paused nor used within the last minute (so that
 * whatever Webflow counts for its token is over).
 */
static bool
budget_evictable(const WebflowBudget *b, TimestampTz now)
{
	return !b->auth_paused && b->paused_until <= now &&
		b->next_slot + 60 * USECS_PER_SEC <= now &&
		b->last_used + 60 * USECS_PER_SEC <= now;
}

/*
 * budget_find returns the budget of a connection's token, or NULL.  The
 * caller holds s->mutex.
 */
static WebflowBudget *
budget_find(WebflowShared *s, uint64 key)
{
	int			i;

	for (i = 0; i < s->nbudgets; i++)
		if (s->budgets[i].key == key)
			return &s->budgets[i];
	return NULL;
}

/*
 * budget_shared is the busy budget a token without one of its own shares,
 * always the same for one token.
 */
static WebflowBudget *
budget_shared(WebflowShared *s, uint64 key)
{
	return &s->budgets[key % (uint64) s->nbudgets];
}

/*
 * budget_of returns the budget of a connection's token, taking a free
 * budget, or one left idle for a minute, for a token not seen yet.  When
 * every budget is busy, the token shares one (always the same): it then
 * sends more slowly than it may, and waits out the other's pauses, never
 * faster.  A budget's rate limit
 * is the lowest that its connections gave within the last minute.  The
 * caller holds s->mutex.
 */
static WebflowBudget *
budget_of(WebflowShared *s, const WebflowConnection *conn)
{
	uint64		key = webflow_connection_key(conn);
	TimestampTz now = GetCurrentTimestamp();
	int			rate = conn->rate_limit > 0 ? conn->rate_limit : webflow_rate_limit;
	WebflowBudget *b = budget_find(s, key);
	int			i;

	if (b == NULL)
	{
		for (i = 0; i < s->nbudgets && b == NULL; i++)
			if (s->budgets[i].key == 0 || budget_evictable(&s->budgets[i], now))
				b = &s->budgets[i];
		/* (a sharer leaves the budget its owner's name and rate) */
		if (b == NULL)
			return budget_shared(s, key);
		memset(b, 0, sizeof(*b));
		b->key = key;
		b->server_limit = -1;
		b->server_remaining = -1;
		b->rate_limit = rate;
		b->rate_set_at = now;
	}
	strlcpy(b->name, conn->name ? conn->name : "", sizeof(b->name));
	if (rate < b->rate_limit || now - b->rate_set_at >= 60 * USECS_PER_SEC)
	{
		b->rate_limit = rate;
		b->rate_set_at = now;
	}
	return b;
}

/*
 * budget_named returns the most recently used budget of the connection of
 * that name, or NULL: for status reports, whatever token this process
 * would send.  The caller holds s->mutex.
 */
static WebflowBudget *
budget_named(WebflowShared *s, const char *name)
{
	WebflowBudget *found = NULL;
	int			i;

	for (i = 0; i < s->nbudgets; i++)
	{
		WebflowBudget *b = &s->budgets[i];

		if (b->key != 0 && strcmp(b->name, name) == 0 &&
			(found == NULL || b->last_used > found->last_used))
			found = b;
	}
	return found;
}

/*
 * rate_acquire waits for this process's turn to send one request over
 * conn.  It returns false when the connection is paused for longer than
 * max_wait_ms (a negative max_wait_ms waits as long as it takes).
 */
static bool
rate_acquire(const WebflowConnection *conn, int max_wait_ms)
{
	WebflowShared *s = webflow_shared();

	for (;;)
	{
		TimestampTz now = GetCurrentTimestamp();
		TimestampTz slot;
		TimestampTz paused_until;
		WebflowBudget *b;
		int64		interval;

		SpinLockAcquire(&s->mutex);
		b = budget_of(s, conn);
		paused_until = b->paused_until;
		if (paused_until > now)
		{
			SpinLockRelease(&s->mutex);
			if (max_wait_ms >= 0 && paused_until - now > (int64) max_wait_ms * 1000)
				return false;
			/* (a second at a time: a reload or retry() may lift the pause) */
			sleep_until(Min(paused_until, now + USECS_PER_SEC));
			continue;
		}
		/* an idle limiter allows one request at once, not a burst */
		interval = (int64) (60.0 * USECS_PER_SEC / Max(b->rate_limit, 1));
		slot = Max(b->next_slot, now);
		b->next_slot = slot + interval;
		b->last_used = slot;
		b->requests++;
		if (slot - b->minute_start >= 60 * USECS_PER_SEC)
		{
			b->minute_start = slot;
			b->minute_requests = 0;
		}
		b->minute_requests++;
		SpinLockRelease(&s->mutex);

		sleep_until(slot);
		return true;
	}
}

/*
 * webflow_rate_next_slot tells when conn may send its next request (for
 * choosing which connection's request goes next): the end of its pause,
 * or its next slot.
 */
TimestampTz
webflow_rate_next_slot(const WebflowConnection *conn)
{
	WebflowShared *s = webflow_shared();
	WebflowBudget *b;
	TimestampTz at;

	SpinLockAcquire(&s->mutex);
	b = budget_find(s, webflow_connection_key(conn));
	if (b == NULL && s->budgets[0].key != 0)
		b = budget_shared(s, webflow_connection_key(conn));
	at = b ? Max(b->next_slot, b->paused_until) : 0;
	SpinLockRelease(&s->mutex);
	return at;
}

/*
 * webflow_rate_observe takes note of a response's rate-limit headers and
 * of 429s, for every process using conn's budget.
 */
void
webflow_rate_observe(const WebflowConnection *conn, WebflowHttpResult *result)
{
	WebflowShared *s = webflow_shared();
	TimestampTz now = GetCurrentTimestamp();
	WebflowBudget *b;

	if (result->outcome != WEBFLOW_HTTP_RESPONSE)
		return;
	SpinLockAcquire(&s->mutex);
	b = budget_of(s, conn);
	/* a request that went through means the token works again */
	if (result->status >= 200 && result->status < 300)
	{
		b->auth_paused = false;
		b->auth_probes = 0;
	}
	if (result->ratelimit_limit >= 0)
		b->server_limit = result->ratelimit_limit;
	if (result->ratelimit_remaining >= 0)
		b->server_remaining = result->ratelimit_remaining;
	if (result->status == 429)
	{
		/* (Webflow's limit is per minute: a longer wait is capped) */
		int			wait_s = result->retry_after_s >= 0 ?
			Min(Max(result->retry_after_s, 1), RETRY_AFTER_MAX_S) : 60;

		b->paused_until = Max(b->paused_until,
							  now + (int64) wait_s * USECS_PER_SEC);
		snprintf(b->rate_reason, sizeof(b->rate_reason),
				 "Webflow answered 429 Too Many Requests; sending resumes after %d s%s",
				 wait_s, result->retry_after_s >= 0 ? " (Retry-After)" : " (no Retry-After, default)");
	}
	else if (result->ratelimit_remaining == 0 && result->ratelimit_limit > 0)
	{
		TimestampTz until = now + (int64) (60.0 * USECS_PER_SEC / result->ratelimit_limit);

		if (until > b->paused_until)
		{
			b->paused_until = until;
			snprintf(b->rate_reason, sizeof(b->rate_reason),
					 "X-RateLimit-Remaining is 0 (limit %d per minute)",
					 result->ratelimit_limit);
		}
	}
	SpinLockRelease(&s->mutex);
}

/*
 * webflow_auth_pause pauses conn's budget until its token changes, or its
 * next probe: 10 s (or naptime), doubled per refused probe, at most
 * 10 min.
 */
void
webflow_auth_pause(const WebflowConnection *conn, const char *reason)
{
	WebflowShared *s = webflow_shared();
	TimestampTz now = GetCurrentTimestamp();
	WebflowBudget *b;

	SpinLockAcquire(&s->mutex);
	b = budget_of(s, conn);
	if (!b->auth_paused)
		b->auth_probes = 0;
	b->auth_paused = true;
	strlcpy(b->auth_reason, reason, sizeof(b->auth_reason));
	b->auth_probe_at = now + (int64) (Min(AUTH_PROBE_MAX_S,
										  Max(webflow_naptime_s, AUTH_PROBE_MIN_S) *
										  pow(2.0, Min(b->auth_probes, 20))) * USECS_PER_SEC);
	b->auth_probes++;
	SpinLockRelease(&s->mutex);
}

/*
 * webflow_auth_resume lifts every pause after a 401/403 or a 429 (a reload
 * of the settings, a superuser's webflow.retry()): the next request tells
 * whether the token works, and whether Webflow still wants us to wait.
 */
void
webflow_auth_resume(void)
{
	WebflowShared *s = webflow_shared();
	int			i;

	SpinLockAcquire(&s->mutex);
	for (i = 0; i < s->nbudgets; i++)
	{
		WebflowBudget *b = &s->budgets[i];

		/* (its changes wait until the end of the pause: see record.c) */
		s->resume_horizon = Max(s->resume_horizon, Max(b->paused_until, b->auth_paused ?
													   b->auth_probe_at : 0));
		s->budgets[i].auth_paused = false;
		s->budgets[i].auth_probes = 0;
		s->budgets[i].paused_until = 0;
	}
	SpinLockRelease(&s->mutex);
}

/*
 * webflow_take_resume_horizon returns, and forgets, the latest end of the
 * pauses lifted since the last call (0: none): the changes that wait
 * until no later than that are due now.
 */
TimestampTz
webflow_take_resume_horizon(void)
{
	WebflowShared *s = webflow_shared();
	TimestampTz horizon;

	SpinLockAcquire(&s->mutex);
	horizon = s->resume_horizon;
	s->resume_horizon = 0;
	SpinLockRelease(&s->mutex);
	return horizon;
}

/*
 * auth_paused says whether conn's budget is paused for a refused token;
 * once the probe time has come, a pass may send again: its first request
 * tells whether the token works now.
 */
static bool
auth_paused(const WebflowConnection *conn)
{
	WebflowShared *s = webflow_shared();
	WebflowBudget *b;
	bool		paused;

	SpinLockAcquire(&s->mutex);
	b = budget_of(s, conn);
	paused = b->auth_paused && GetCurrentTimestamp() < b->auth_probe_at;
	SpinLockRelease(&s->mutex);
	return paused;
}

/* webflow_outage_observe counts conn's failed requests in a row (reset by one that worked). */
void
webflow_outage_observe(const WebflowConnection *conn, bool ok)
{
	WebflowShared *s = webflow_shared();
	WebflowBudget *b;

	SpinLockAcquire(&s->mutex);
	b = budget_of(s, conn);
	b->outage_streak = ok ? 0 : Min(b->outage_streak + 1, 30);
	SpinLockRelease(&s->mutex);
}

/*
 * webflow_outage_pause pauses conn after a request that got no answer
 * (refused, reset, timed out) for the outage delay, so that a site that
 * does not answer costs the others one timeout per delay at most.
 */
void
webflow_outage_pause(const WebflowConnection *conn, const char *why)
{
	WebflowShared *s = webflow_shared();
	WebflowBudget *b;
	TimestampTz until;
	double		wait_s;

	SpinLockAcquire(&s->mutex);
	b = budget_of(s, conn);
	wait_s = Max(OUTAGE_PAUSE_MIN_S, Min(OUTAGE_DELAY_MAX_S, pow(2.0, Max(b->outage_streak, 1))));
	until = GetCurrentTimestamp() + (int64) (wait_s * USECS_PER_SEC);
	if (until > b->paused_until)
	{
		b->paused_until = until;
		snprintf(b->rate_reason, sizeof(b->rate_reason),
				 "the last request got no answer (%s); sending resumes after %d s",
				 why, (int) wait_s);
	}
	SpinLockRelease(&s->mutex);
}

/*
 * webflow_outage_delay is how long changes wait after a read over conn
 * failed without their fault: exponential in the failures in a row, at
 * most a minute.
 */
double
webflow_outage_delay(const WebflowConnection *conn)
{
	WebflowShared *s = webflow_shared();
	int			streak;

	SpinLockAcquire(&s->mutex);
	streak = budget_of(s, conn)->outage_streak;
	SpinLockRelease(&s->mutex);
	return Min(OUTAGE_DELAY_MAX_S, pow(2.0, Max(streak, 1)));
}

/*
 * webflow_budget_ready waits for conn's turn to send one request and
 * returns true; or false when conn is paused (its token refused or
 * missing, or a 429's wait beyond max_wait_ms).
 */
bool
webflow_budget_ready(const WebflowConnection *conn, int max_wait_ms)
{
	if (conn->token == NULL)
		webflow_auth_pause(conn, conn->name[0] == '\0' ?
						   psprintf("%s; the queue resumes when the token is set (on a reload)",
									conn->problem ? conn->problem : "no token") :
						   psprintf("webflow connection \"%s\" has no usable token (%s); its changes wait until its user mapping has one",
									conn->name, conn->problem ? conn->problem : "no token"));
	if (auth_paused(conn))
		return false;
	return rate_acquire(conn, max_wait_ms);
}

/*
 * webflow_budget_resume_in is how many seconds conn's changes should wait
 * before they are tried again: until its pause ends, or 0.
 */
double
webflow_budget_resume_in(const WebflowConnection *conn)
{
	WebflowShared *s = webflow_shared();
	WebflowBudget *b;
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz until;

	SpinLockAcquire(&s->mutex);
	b = budget_of(s, conn);
	until = b->paused_until;
	if (b->auth_paused)
		until = Max(until, b->auth_probe_at);
	SpinLockRelease(&s->mutex);
	return until > now ? (double) (until - now) / USECS_PER_SEC : 0.0;
}

/*
 * webflow_budget_report copies the budget last used by the connection of
 * that name into *copy and returns true, or false when it has none; for
 * status reports.
 */
bool
webflow_budget_report(const char *name, WebflowBudget *copy)
{
	WebflowShared *s = webflow_shared();
	WebflowBudget *b;

	SpinLockAcquire(&s->mutex);
	b = budget_named(s, name ? name : "");
	if (b != NULL)
		memcpy(copy, b, sizeof(*copy));
	SpinLockRelease(&s->mutex);
	return b != NULL;
}

/*
 * webflow_budget_report_of copies the budget of conn's token into *copy
 * and returns true, or false when it has none (yet); for status reports.
 */
bool
webflow_budget_report_of(const WebflowConnection *conn, WebflowBudget *copy)
{
	WebflowShared *s = webflow_shared();
	WebflowBudget *b;

	SpinLockAcquire(&s->mutex);
	b = budget_find(s, webflow_connection_key(conn));
	/* (a token that shares a busy budget: that one's state is its own) */
	if (b == NULL && s->budgets[s->nbudgets - 1].key != 0)
		b = budget_shared(s, webflow_connection_key(conn));
	if (b != NULL)
		memcpy(copy, b, sizeof(*copy));
	SpinLockRelease(&s->mutex);
	return b != NULL;
}

/*
 * webflow_budgets_copy copies every budget in use into a palloc'd array
 * and returns their number: for status reports.
 */
int
webflow_budgets_copy(WebflowBudget **copies)
{
	WebflowShared *s = webflow_shared();
	WebflowBudget *out = palloc(sizeof(WebflowBudget) * Max(s->nbudgets, 1));
	int			n = 0;
	int			i;

	SpinLockAcquire(&s->mutex);
	for (i = 0; i < s->nbudgets; i++)
		if (s->budgets[i].key != 0)
			memcpy(&out[n++], &s->budgets[i], sizeof(WebflowBudget));
	SpinLockRelease(&s->mutex);
	*copies = out;
	return n;
}

/*
 * webflow_budget_pause_reason says why a budget is paused now (a refused
 * token, a 429), or NULL.
 */
const char *
webflow_budget_pause_reason(const WebflowBudget *b, TimestampTz now)
{
	if (b->auth_paused)
		return b->auth_reason;
	if (b->paused_until > now)
		return b->rate_reason;
	return NULL;
}
