/*-------------------------------------------------------------------------
 *
 * ratelimit.c
 *		The request budget shared by the background worker and every
 *		session that drains the outbox.
 *
 * Requests are spaced evenly: webflow.rate_limit per minute means one
 * request every 60/rate_limit seconds, with no burst beyond one request
 * after an idle spell.  That keeps any one-minute window, fixed or
 * rolling, within the limit.  On top of that:
 *	- a 429 stops all sending until its Retry-After (60 s when absent);
 *	- X-RateLimit-Remaining: 0 holds the next request back by the server's
 *	  own spacing (60 s / X-RateLimit-Limit);
 *	- a 401 or 403 pauses the queue until webflow.token or webflow.api_url
 *	  changes, so that attempts are not burnt on a bad token.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "storage/spin.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "ratelimit.h"
#include "shmem.h"
#include "token.h"
#include "webflow.h"

/* Longest wait between two probes of a queue paused by a 401/403. */
#define AUTH_PROBE_MAX_S 600.0
/* Shortest wait before the first probe. */
#define AUTH_PROBE_MIN_S 10
/* Longest wait a 429's Retry-After can impose. */
#define RETRY_AFTER_MAX_S 300
/* Longest wait of changes after a failed read. */
#define OUTAGE_DELAY_MAX_S 60.0

static uint32 wait_event_rate = 0;

static void sleep_until(TimestampTz until);

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
 * webflow_rate_acquire waits for this process's turn to send one request.
 * It returns false, with the reason, when sending is paused for longer
 * than max_wait_ms (a negative max_wait_ms waits as long as it takes).
 */
bool
webflow_rate_acquire(int max_wait_ms, char **why)
{
	WebflowShared *s = webflow_shared();
	int64		interval = (int64) (60.0 * USECS_PER_SEC / Max(webflow_rate_limit, 1));

	for (;;)
	{
		TimestampTz now = GetCurrentTimestamp();
		TimestampTz slot;
		TimestampTz paused_until;

		SpinLockAcquire(&s->mutex);
		paused_until = s->paused_until;
		if (paused_until > now)
		{
			char		reason[WEBFLOW_REASON_LEN];

			strlcpy(reason, s->rate_reason, sizeof(reason));
			SpinLockRelease(&s->mutex);
			if (why != NULL)
				*why = pstrdup(reason);
			if (max_wait_ms >= 0 && paused_until - now > (int64) max_wait_ms * 1000)
				return false;
			/* (a second at a time: a reload or retry() may lift the pause) */
			sleep_until(Min(paused_until, now + USECS_PER_SEC));
			continue;
		}
		/* an idle limiter allows one request at once, not a burst */
		slot = Max(s->next_slot, now);
		s->next_slot = slot + interval;
		SpinLockRelease(&s->mutex);

		sleep_until(slot);
		return true;
	}
}

/*
 * webflow_rate_observe takes note of a response's rate-limit headers and
 * of 429s, for every process.
 */
void
webflow_rate_observe(WebflowHttpResult *result)
{
	WebflowShared *s = webflow_shared();
	TimestampTz now = GetCurrentTimestamp();

	if (result->outcome != WEBFLOW_HTTP_RESPONSE)
		return;
	SpinLockAcquire(&s->mutex);
	/* a request that went through means the token works again */
	if (result->status >= 200 && result->status < 300)
	{
		s->auth_paused = false;
		s->auth_probes = 0;
	}
	if (result->ratelimit_limit >= 0)
		s->server_limit = result->ratelimit_limit;
	if (result->ratelimit_remaining >= 0)
		s->server_remaining = result->ratelimit_remaining;
	if (result->status == 429)
	{
		/* (Webflow's limit is per minute: a longer wait is capped) */
		int			wait_s = result->retry_after_s >= 0 ?
			Min(result->retry_after_s, RETRY_AFTER_MAX_S) : 60;

		s->paused_until = Max(s->paused_until,
							  now + (int64) wait_s * USECS_PER_SEC);
		snprintf(s->rate_reason, sizeof(s->rate_reason),
				 "Webflow answered 429 Too Many Requests; sending resumes after %d s%s",
				 wait_s, result->retry_after_s >= 0 ? " (Retry-After)" : " (no Retry-After, default)");
	}
	else if (result->ratelimit_remaining == 0 && result->ratelimit_limit > 0)
	{
		TimestampTz until = now + (int64) (60.0 * USECS_PER_SEC / result->ratelimit_limit);

		if (until > s->paused_until)
		{
			s->paused_until = until;
			snprintf(s->rate_reason, sizeof(s->rate_reason),
					 "X-RateLimit-Remaining is 0 (limit %d per minute)",
					 result->ratelimit_limit);
		}
	}
	SpinLockRelease(&s->mutex);
}

/*
 * webflow_config_hash hashes the settings a rejected token pause waits on:
 * the token (from webflow.token or webflow.token_file) and webflow.api_url.
 */
uint64
webflow_config_hash(void)
{
	char	   *problem;
	const char *token = webflow_api_token(&problem);
	const char *url = webflow_api_url ? webflow_api_url : "";

	if (token == NULL)
		token = "";

	return hash_bytes_extended((const unsigned char *) token, strlen(token), 0) ^
		(hash_bytes_extended((const unsigned char *) url, strlen(url), 1) << 1);
}

/* webflow_auth_pause pauses the queue until the token or URL changes. */
void
webflow_auth_pause(const char *reason)
{
	WebflowShared *s = webflow_shared();
	uint64		hash = webflow_config_hash();
	TimestampTz now = GetCurrentTimestamp();

	SpinLockAcquire(&s->mutex);
	if (!s->auth_paused)
		s->auth_probes = 0;
	s->auth_paused = true;
	s->auth_config_hash = hash;
	strlcpy(s->auth_reason, reason, sizeof(s->auth_reason));
	/* the next probe: 10 s (or naptime), doubled per refused probe, at most 10 min */
	s->auth_probe_at = now + (int64) (Min(AUTH_PROBE_MAX_S,
										  Max(webflow_naptime_s, AUTH_PROBE_MIN_S) *
										  pow(2.0, Min(s->auth_probes, 20))) * USECS_PER_SEC);
	s->auth_probes++;
	SpinLockRelease(&s->mutex);
}

/*
 * webflow_auth_resume lifts a pause after a 401/403 or a 429 (a reload of
 * the settings, a superuser's webflow.retry()): the next request tells
 * whether the token works, and whether Webflow still wants us to wait.
 */
void
webflow_auth_resume(void)
{
	WebflowShared *s = webflow_shared();

	SpinLockAcquire(&s->mutex);
	s->auth_paused = false;
	s->auth_probes = 0;
	s->paused_until = 0;
	SpinLockRelease(&s->mutex);
}

/* webflow_outage_observe counts failed requests in a row (reset by one that worked). */
void
webflow_outage_observe(bool ok)
{
	WebflowShared *s = webflow_shared();

	SpinLockAcquire(&s->mutex);
	s->outage_streak = ok ? 0 : Min(s->outage_streak + 1, 30);
	SpinLockRelease(&s->mutex);
}

/*
 * webflow_outage_delay is how long changes wait after a read failed
 * without their fault: exponential in the failures in a row, at most a
 * minute.
 */
double
webflow_outage_delay(void)
{
	WebflowShared *s = webflow_shared();
	int			streak;

	SpinLockAcquire(&s->mutex);
	streak = s->outage_streak;
	SpinLockRelease(&s->mutex);
	return Min(OUTAGE_DELAY_MAX_S, pow(2.0, Max(streak, 1)));
}

/*
 * webflow_auth_pause_reason returns why the queue is paused for a refused
 * token, whatever this process's settings, or NULL: for status reports.
 */
char *
webflow_auth_pause_reason(void)
{
	WebflowShared *s = webflow_shared();
	bool		paused;
	char		why[WEBFLOW_REASON_LEN];

	SpinLockAcquire(&s->mutex);
	paused = s->auth_paused;
	strlcpy(why, s->auth_reason, sizeof(why));
	SpinLockRelease(&s->mutex);
	return paused ? pstrdup(why) : NULL;
}

/*
 * webflow_auth_paused says whether the queue is paused for the current
 * token and URL; a changed setting lifts the pause.
 */
bool
webflow_auth_paused(char **reason)
{
	WebflowShared *s = webflow_shared();
	uint64		hash = webflow_config_hash();
	bool		paused;
	char		why[WEBFLOW_REASON_LEN];

	/*
	 * The pause holds for the token and URL that were refused: a process
	 * with other settings may send, but it does not lift the pause for the
	 * others.  Once its probe time has come, a pass may send again: its
	 * first request tells whether the token works now.
	 */
	SpinLockAcquire(&s->mutex);
	paused = s->auth_paused && s->auth_config_hash == hash &&
		GetCurrentTimestamp() < s->auth_probe_at;
	strlcpy(why, s->auth_reason, sizeof(why));
	SpinLockRelease(&s->mutex);
	if (paused && reason != NULL)
		*reason = pstrdup(why);
	return paused;
}
